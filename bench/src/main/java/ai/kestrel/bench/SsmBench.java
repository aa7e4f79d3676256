package ai.kestrel.bench;

import ai.kestrel.kernels.Buf;
import ai.kestrel.kernels.conv.CausalConv1d;
import ai.kestrel.kernels.scan.SelectiveScan;
import ai.kestrel.kernels.ssd.SsdScan;
import java.lang.foreign.Arena;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.TearDown;

/**
 * The sequence mixers at real shapes. Mamba-2 SSD at Falcon-H1-1.5B-Deep: B=1, T=512, 24 heads x 64,
 * d_state 256, 1 group, chunk 128 (forward, forward+backward, one decode step); its conv1d over
 * conv_dim = 1536 + 2*256 = 2048, W=4; the Mamba-1 scan at falcon-mamba-7b: d_inner 8192, d_state 16, T=128.
 *
 * <p>SSD work (chunked form, per head per chunk of L): C·B products L²N/2 (shared by the group's heads),
 * intra-chunk outputs L²P/2, state read L·N·P, state update L·N·P, each a multiply-add; the bytes are
 * inputs and outputs once (x, y, B, C, dt).
 */
public class SsmBench extends BenchBase {
    static final int T = 512, H = 24, P = 64, N = 256, L = 128, CONV = 2048, W = 4;
    static final int DIN = 8192, N1 = 16, T1 = 128;
    /** Falcon-H1-1.5B-Deep's layer count: a decode step updates this many states, 99 MB in all, from DRAM. */
    static final int LAYERS = 66;

    Arena arena;
    Buf x, dt, dtBias, a, bm, cm, d, y, dy, dx, ddt, gb, ga, gd, dB, dC, xs, dts, bs, cs, state, ys;
    Buf[] states;
    Buf cx, cw, cb, cy, cdy, cdx, cdw, cdb, cstate, cxs, cys;
    Buf mx, mdt, ma, mb, mc, md, my, mstate, mxs, mdts, mbs, mcs, mys, mdy, mdx, mddt, mdA, mdB, mdC, mdD;
    final SsdScan.Dims dims = new SsdScan.Dims(1, T, H, P, 1, N, L);

    static double[] work(String method, java.util.function.Function<String, String> param) {
        double chunks = (double) T / L;
        double ssdFwd = 2 * (chunks * (L * L * N / 2.0 + H * (L * L * P / 2.0 + 2.0 * L * N * P)));
        double ssdBytes = 4.0 * (2 * T * H * P + 2 * T * N + T * H);
        return switch (method) {
            case "ssdForward" -> new double[] {ssdFwd, ssdBytes};
            case "ssdForwardBackward" -> new double[] {ssdFwd * 4, ssdBytes * 3};
            case "ssdStep" -> new double[] {2.0 * 2 * H * P * N, 4.0 * 2 * H * P * N};
            case "ssdStepLayers" -> new double[] {LAYERS * 2.0 * 2 * H * P * N, LAYERS * 4.0 * 2 * H * P * N};
            case "conv1dForward" -> new double[] {2.0 * T * CONV * W, 4.0 * 2 * T * CONV};
            case "conv1dForwardBackward" -> new double[] {3 * 2.0 * T * CONV * W, 4.0 * 5 * T * CONV};
            case "conv1dStep" -> new double[] {2.0 * CONV * W, 4.0 * 2 * (W - 1) * CONV};
            case "mamba1Forward" -> new double[] {6.0 * T1 * DIN * N1, 4.0 * 3 * T1 * DIN};
            case "mamba1Step" -> new double[] {6.0 * DIN * N1, 4.0 * 2 * DIN * N1};
            // the backward recomputes the forward's states, then ~14 flops per (step, channel, state) going back
            case "mamba1ForwardBackward" -> new double[] {(6.0 + 6.0 + 14.0) * T1 * DIN * N1, 4.0 * 9 * T1 * DIN};
            default -> new double[] {0, 0};
        };
    }

    @Setup
    public void setup() {
        arena = Arena.ofShared();
        x = Data.randn(arena, (long) T * H * P, 1, 1);
        dt = Data.uniform(arena, (long) T * H, 2, -4, 0);
        dtBias = Data.randn(arena, H, 3, 0.5);
        a = Data.uniform(arena, H, 4, -2, -0.1);
        bm = Data.randn(arena, (long) T * N, 5, 0.06);
        cm = Data.randn(arena, (long) T * N, 6, 0.06);
        d = Data.randn(arena, H, 7, 1);
        y = Buf.allocF32(arena, (long) T * H * P);
        dy = Data.randn(arena, (long) T * H * P, 8, 1);
        dx = Buf.allocF32(arena, (long) T * H * P);
        ddt = Buf.allocF32(arena, (long) T * H);
        gb = Buf.allocF32(arena, H);
        ga = Buf.allocF32(arena, H);
        gd = Buf.allocF32(arena, H);
        dB = Buf.allocF32(arena, (long) T * N);
        dC = Buf.allocF32(arena, (long) T * N);
        xs = Data.randn(arena, (long) H * P, 9, 1);
        dts = Data.uniform(arena, H, 10, -4, 0);
        bs = Data.randn(arena, N, 11, 0.06);
        cs = Data.randn(arena, N, 12, 0.06);
        state = Data.randn(arena, (long) H * P * N, 13, 0.1);
        ys = Buf.allocF32(arena, (long) H * P);
        states = new Buf[LAYERS];
        for (int l = 0; l < LAYERS; l++) {
            states[l] = Data.randn(arena, (long) H * P * N, 100 + l, 0.1);
        }
        cx = Data.randn(arena, (long) T * CONV, 14, 1);
        cw = Data.randn(arena, (long) CONV * W, 15, 0.5);
        cb = Data.randn(arena, CONV, 16, 0.1);
        cy = Buf.allocF32(arena, (long) T * CONV);
        cdy = Data.randn(arena, (long) T * CONV, 17, 1);
        cdx = Buf.allocF32(arena, (long) T * CONV);
        cdw = Buf.allocF32(arena, (long) CONV * W);
        cdb = Buf.allocF32(arena, CONV);
        cstate = Data.randn(arena, (long) (W - 1) * CONV, 18, 1);
        cxs = Data.randn(arena, CONV, 19, 1);
        cys = Buf.allocF32(arena, CONV);
        mx = Data.randn(arena, (long) T1 * DIN, 20, 1);
        mdt = Data.uniform(arena, (long) T1 * DIN, 21, -4, 0);
        ma = Data.uniform(arena, (long) DIN * N1, 22, -2, -0.1);
        mb = Data.randn(arena, (long) T1 * N1, 23, 0.3);
        mc = Data.randn(arena, (long) T1 * N1, 24, 0.3);
        md = Data.randn(arena, DIN, 25, 1);
        my = Buf.allocF32(arena, (long) T1 * DIN);
        mdy = Data.randn(arena, (long) T1 * DIN, 26, 1);
        mdx = Buf.allocF32(arena, (long) T1 * DIN);
        mddt = Buf.allocF32(arena, (long) T1 * DIN);
        mdA = Buf.allocF32(arena, (long) DIN * N1);
        mdB = Buf.allocF32(arena, (long) T1 * N1);
        mdC = Buf.allocF32(arena, (long) T1 * N1);
        mdD = Buf.allocF32(arena, DIN);
        mstate = Data.randn(arena, (long) DIN * N1, 26, 0.1);
        mxs = Data.randn(arena, DIN, 27, 1);
        mdts = Data.uniform(arena, DIN, 28, -4, 0);
        mbs = Data.randn(arena, N1, 29, 0.3);
        mcs = Data.randn(arena, N1, 30, 0.3);
        mys = Buf.allocF32(arena, DIN);
    }

    @TearDown
    public void tearDown() {
        arena.close();
    }

    @Benchmark
    public void ssdForward() {
        SsdScan.CPU.forward(x, dt, dtBias, a, bm, cm, d, null, y, null, dims);
    }

    @Benchmark
    public void ssdForwardBackward() {
        SsdScan.CPU.forward(x, dt, dtBias, a, bm, cm, d, null, y, null, dims);
        SsdScan.CPU.backward(dy, x, dt, dtBias, a, bm, cm, d, null, dx, ddt, gb, ga, dB, dC, gd, null, dims);
    }

    @Benchmark
    public void ssdStep() {
        SsdScan.CPU.step(xs, dts, dtBias, a, bs, cs, d, state, ys, dims);
    }

    /** One decode step's SSD updates for all layers of 1.5B-Deep: each state comes from DRAM, as in the model. */
    @Benchmark
    public void ssdStepLayers() {
        for (Buf st : states) {
            SsdScan.CPU.step(xs, dts, dtBias, a, bs, cs, d, st, ys, dims);
        }
    }

    @Benchmark
    public void conv1dForward() {
        CausalConv1d.CPU.forward(cx, cw, cb, null, cy, null, 1, T, CONV, W);
    }

    @Benchmark
    public void conv1dForwardBackward() {
        CausalConv1d.CPU.forward(cx, cw, cb, null, cy, null, 1, T, CONV, W);
        CausalConv1d.CPU.backward(cdy, cx, cw, null, cdx, cdw, cdb, null, 1, T, CONV, W);
    }

    @Benchmark
    public void conv1dStep() {
        CausalConv1d.CPU.step(cxs, cw, cb, cstate, cys, 1, CONV, W);
    }

    @Benchmark
    public void mamba1Forward() {
        SelectiveScan.CPU.forward(mx, mdt, null, ma, mb, mc, md, null, my, null, 1, T1, DIN, N1);
    }

    /** Forward, then every gradient (x, dt, A, B, C, D), as a training step runs the scan. */
    @Benchmark
    public void mamba1ForwardBackward() {
        SelectiveScan.CPU.forward(mx, mdt, null, ma, mb, mc, md, null, my, null, 1, T1, DIN, N1);
        SelectiveScan.CPU.backward(mdy, mx, mdt, null, ma, mb, mc, md, null, mdx, mddt, null, mdA, mdB, mdC, mdD, null, 1, T1, DIN, N1);
    }

    @Benchmark
    public void mamba1Step() {
        SelectiveScan.CPU.step(mxs, mdts, null, ma, mbs, mcs, md, mstate, mys, 1, DIN, N1);
    }
}
