package ai.kestrel.bench;

import ai.kestrel.kernels.Buf;
import ai.kestrel.kernels.matmul.Matmul;
import ai.kestrel.kernels.quant.Codecs;
import ai.kestrel.kernels.quant.WeightFormat;
import ai.kestrel.kernels.quant.Weights;
import java.lang.foreign.Arena;
import java.util.SplittableRandom;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.TearDown;

/**
 * Matrix products at Falcon-H1-1.5B-Deep shapes. {@code shape} is {@code "K->N"}: in_proj 1280->3608, MLP
 * 1280->3072 and 3072->1280, lm_head 1280->65536. Work per call: {@code 2*M*N*K} flops; the decode path
 * (M=1) streams {@code N * rowBytes(K)} weight bytes. GFLOP/s = 2MNK / time, GB/s = weight bytes / time.
 */
public class MatmulBench extends BenchBase {
    @Param({"1280->3608", "1280->3072", "3072->1280", "1280->65536"})
    String shape;

    @Param({"F32", "BF16", "F16", "Q8_0", "NF4"})
    String format;

    @Param({"1", "512"})
    int m;

    Arena arena;
    Weights w;
    Buf x, y, dy, dx, dw;
    int n, k;

    /** Work per call, for the report: {flops, bytes}; bytes are the weight bytes a decode step must stream. */
    static double[] work(String method, java.util.function.Function<String, String> param) {
        String[] kn = param.apply("shape").split("->");
        double k = Double.parseDouble(kn[0]);
        double n = Double.parseDouble(kn[1]);
        double m = Double.parseDouble(param.apply("m"));
        double rowBytes = WeightFormat.valueOf(param.apply("format")).rowBytes((int) k);
        double weightBytes = method.equals("backwardWeight") ? 0 : n * rowBytes;
        return new double[] {2 * m * n * k, weightBytes};
    }

    @Setup
    public void setup() {
        String[] kn = shape.split("->");
        k = Integer.parseInt(kn[0]);
        n = Integer.parseInt(kn[1]);
        arena = Arena.ofShared();
        SplittableRandom rnd = new SplittableRandom(1);
        float[] v = new float[n * k];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) (rnd.nextDouble() * 2 - 1);
        }
        w = Codecs.encode(arena, v, n, k, WeightFormat.valueOf(format));
        x = ai.kestrel.train.tour.TourData.randn(arena, m * k, 2);
        y = Buf.allocF32(arena, (long) m * n);
        dy = ai.kestrel.train.tour.TourData.randn(arena, m * n, 3);
        dx = Buf.allocF32(arena, (long) m * k);
        dw = Buf.allocF32(arena, (long) n * k);
    }

    @TearDown
    public void tearDown() {
        arena.close();
    }

    @Benchmark
    public void forward() {
        Matmul.CPU.forward(x, w, null, y, m);
    }

    @Benchmark
    public void backwardInput() {
        Matmul.CPU.backwardInput(dy, w, dx, m, false);
    }

    @Benchmark
    public void backwardWeight() {
        Matmul.CPU.backwardWeight(dy, x, dw, m, n, k);
    }
}
