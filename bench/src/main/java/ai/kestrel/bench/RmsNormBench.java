package ai.kestrel.bench;

import ai.kestrel.kernels.Buf;
import ai.kestrel.kernels.norm.GatedRmsNorm;
import ai.kestrel.kernels.norm.RmsNorm;
import ai.kestrel.train.tour.TourData;
import java.lang.foreign.Arena;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.TearDown;

/** RMSNorm (hidden 1280) and gated RMSNorm (d_ssm 1536), reference and Vector API, decode and prefill rows. */
public class RmsNormBench extends BenchBase {
    @Param({"1", "512"})
    int rows;

    @Param({"1280"})
    int d;

    Arena arena;
    Buf x, w, y, rstd, xs, zs, ws, ys, rs;
    final int ds = 1536;

    /** Work per call, for the report: {flops, bytes moved}. */
    static double[] work(String method, java.util.function.Function<String, String> param) {
        double rows = Double.parseDouble(param.apply("rows"));
        double d = Double.parseDouble(param.apply("d"));
        return method.equals("gatedRmsNormCpu")
                ? new double[] {8 * rows * 1536, 3 * rows * 1536 * 4}
                : new double[] {4 * rows * d, 2 * rows * d * 4};
    }

    @Setup
    public void setup() {
        arena = Arena.ofShared();
        x = TourData.randn(arena, rows * d, 1);
        w = TourData.randn(arena, d, 2);
        y = Buf.allocF32(arena, (long) rows * d);
        rstd = Buf.allocF32(arena, rows);
        xs = TourData.randn(arena, rows * ds, 3);
        zs = TourData.randn(arena, rows * ds, 4);
        ws = TourData.randn(arena, ds, 5);
        ys = Buf.allocF32(arena, (long) rows * ds);
        rs = Buf.allocF32(arena, rows);
    }

    @TearDown
    public void tearDown() {
        arena.close();
    }

    @Benchmark
    public void rmsNormRef() {
        RmsNorm.REF.forward(x, w, y, rstd, rows, d, 1e-5f);
    }

    @Benchmark
    public void rmsNormCpu() {
        RmsNorm.CPU.forward(x, w, y, rstd, rows, d, 1e-5f);
    }

    @Benchmark
    public void gatedRmsNormCpu() {
        GatedRmsNorm.CPU.forward(xs, zs, ws, ys, rs, rows, ds, 1, 1e-5f);
    }
}
