package ai.kestrel.bench;

import ai.kestrel.kernels.Buf;
import ai.kestrel.kernels.attention.Attention;
import java.lang.foreign.Arena;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.TearDown;

/**
 * Attention at Falcon-H1-1.5B-Deep shapes (6 query heads, 2 KV heads of 128): a 512-token prompt forward and
 * forward+backward, a 2048-token prompt forward ({@code promptLong}), and one decode step against caches of
 * {@code ctx} tokens. Prompt work: two T²/2 x P products per head; a decode step streams the cache (2 * ctx * KV * P floats; {@code decodeHalf}: the same cache
 * in binary16, half the bytes).
 */
public class AttentionBench extends BenchBase {
    static final int T = 512, T_LONG = 2048, H = 6, KV = 2, P = 128;

    @Param({"512", "4096"})
    int ctx;

    Arena arena;
    Buf q, k, v, o, lse, dO, dq, dk, dv, q1, o1, kc, vc, kh, vh, qL, kL, vL, oL;

    static double[] work(String method, java.util.function.Function<String, String> param) {
        double ctx = Double.parseDouble(param.apply("ctx"));
        double prompt = 2.0 * 2 * H * (T * (T + 1) / 2.0) * P;
        return switch (method) {
            case "prompt" -> new double[] {prompt, 4.0 * (2 * T * H * P + 2 * T * KV * P)};
            case "promptLong" -> new double[] {2.0 * 2 * H * (T_LONG * (T_LONG + 1) / 2.0) * P,
                    4.0 * (2 * T_LONG * H * P + 2 * T_LONG * KV * P)};
            case "promptForwardBackward" -> new double[] {prompt * 3.5, 4.0 * 5 * T * (H + KV) * P};
            case "decode" -> new double[] {2.0 * 2 * H * ctx * P, 4.0 * 2 * ctx * KV * P};
            case "decodeHalf" -> new double[] {2.0 * 2 * H * ctx * P, 2.0 * 2 * ctx * KV * P};
            default -> new double[] {0, 0};
        };
    }

    @Setup
    public void setup() {
        arena = Arena.ofShared();
        q = Data.randn(arena, (long) T * H * P, 1, 1);
        k = Data.randn(arena, (long) T * KV * P, 2, 1);
        v = Data.randn(arena, (long) T * KV * P, 3, 1);
        o = Buf.allocF32(arena, (long) T * H * P);
        lse = Buf.allocF32(arena, (long) H * T);
        dO = Data.randn(arena, (long) T * H * P, 4, 1);
        dq = Buf.allocF32(arena, (long) T * H * P);
        dk = Buf.allocF32(arena, (long) T * KV * P);
        dv = Buf.allocF32(arena, (long) T * KV * P);
        q1 = Data.randn(arena, (long) H * P, 5, 1);
        o1 = Buf.allocF32(arena, (long) H * P);
        kc = Data.randn(arena, (long) ctx * KV * P, 6, 1);
        vc = Data.randn(arena, (long) ctx * KV * P, 7, 1);
        qL = Data.randn(arena, (long) T_LONG * H * P, 8, 1);
        kL = Data.randn(arena, (long) T_LONG * KV * P, 9, 1);
        vL = Data.randn(arena, (long) T_LONG * KV * P, 10, 1);
        oL = Buf.allocF32(arena, (long) T_LONG * H * P);
        kh = Buf.f16(arena.allocate((long) ctx * KV * P * 2, 64));
        vh = Buf.f16(arena.allocate((long) ctx * KV * P * 2, 64));
        ai.kestrel.kernels.Half.narrow(kc.seg(), 0, kh.seg(), 0, kc.length());
        ai.kestrel.kernels.Half.narrow(vc.seg(), 0, vh.seg(), 0, vc.length());
    }

    @TearDown
    public void tearDown() {
        arena.close();
    }

    @Benchmark
    public void prompt() {
        Attention.CPU.forward(q, k, v, o, lse, Attention.Dims.causal(1, T, H, KV, P), 1 / Math.sqrt(P));
    }

    @Benchmark
    public void promptLong() {
        Attention.CPU.forward(qL, kL, vL, oL, null, Attention.Dims.causal(1, T_LONG, H, KV, P), 1 / Math.sqrt(P));
    }

    @Benchmark
    public void promptForwardBackward() {
        Attention.Dims m = Attention.Dims.causal(1, T, H, KV, P);
        Attention.CPU.forward(q, k, v, o, lse, m, 1 / Math.sqrt(P));
        Attention.CPU.backward(dO, q, k, v, o, lse, dq, dk, dv, m, 1 / Math.sqrt(P));
    }

    @Benchmark
    public void decode() {
        Attention.CPU.forward(q1, kc, vc, o1, null, new Attention.Dims(1, 1, ctx, ctx, H, KV, P), 1 / Math.sqrt(P));
    }

    @Benchmark
    public void decodeHalf() {
        Attention.CPU.forward(q1, kh, vh, o1, null, new Attention.Dims(1, 1, ctx, ctx, H, KV, P), 1 / Math.sqrt(P));
    }
}
