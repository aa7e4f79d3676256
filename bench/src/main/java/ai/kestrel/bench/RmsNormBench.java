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

/**
 * RMSNorm (hidden 1280) and gated RMSNorm (d_ssm 1536, one group as in Falcon-H1-1.5B-Deep), reference and Vector API
 * forward, Vector API backward, decode and prefill rows.
 */
public class RmsNormBench extends BenchBase {
    @Param({"1", "512"})
    int rows;

    @Param({"1280"})
    int d;

    Arena arena;
    Buf x, w, y, rstd, xs, zs, ws, ys, rs, dy, dx, dw, dys, dxs, dzs, dws;
    final int ds = 1536;

    /** Work per call, for the report: {flops, bytes moved}. */
    static double[] work(String method, java.util.function.Function<String, String> param) {
        double rows = Double.parseDouble(param.apply("rows"));
        double d = Double.parseDouble(param.apply("d"));
        return switch (method) {
            case "gatedRmsNormCpu" -> new double[] {8 * rows * 1536, 3 * rows * 1536 * 4};
            // dy, x, z read; dx, dz written
            case "gatedRmsNormBackward" -> new double[] {16 * rows * 1536, 5 * rows * 1536 * 4};
            // dy, x read; dx written (dw's row of d is reused)
            case "rmsNormBackward" -> new double[] {8 * rows * d, 3 * rows * d * 4};
            default -> new double[] {4 * rows * d, 2 * rows * d * 4};
        };
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
        dy = TourData.randn(arena, rows * d, 6);
        dx = Buf.allocF32(arena, (long) rows * d);
        dw = Buf.allocF32(arena, d);
        dys = TourData.randn(arena, rows * ds, 7);
        dxs = Buf.allocF32(arena, (long) rows * ds);
        dzs = Buf.allocF32(arena, (long) rows * ds);
        dws = Buf.allocF32(arena, ds);
        // the backward reads the forward's rstd
        RmsNorm.CPU.forward(x, w, y, rstd, rows, d, 1e-5f);
        GatedRmsNorm.CPU.forward(xs, zs, ws, ys, rs, rows, ds, 1, 1e-5f);
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

    @Benchmark
    public void rmsNormBackward() {
        RmsNorm.CPU.backward(dy, x, w, rstd, dx, dw, rows, d);
    }

    @Benchmark
    public void gatedRmsNormBackward() {
        GatedRmsNorm.CPU.backward(dys, xs, zs, ws, rs, dxs, dzs, dws, rows, ds, 1);
    }
}
