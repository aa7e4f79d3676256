package ai.kestrel.train.tour;

import ai.kestrel.kernels.Buf;
import ai.kestrel.kernels.norm.GatedRmsNorm;
import ai.kestrel.kernels.norm.RmsNorm;
import java.lang.foreign.Arena;
import java.util.List;

/** RMSNorm and the gated RMSNorm at Falcon-H1-1.5B-Deep widths (hidden 1280, d_ssm 1536), 512 rows. */
final class NormTour implements TourSuite {
    @Override
    public List<TourCase> cases(Arena arena) {
        int rows = 512;
        int d = 1280;
        int ds = 1536;
        Buf x = TourData.randn(arena, rows * d, 1);
        Buf w = TourData.randn(arena, d, 2);
        Buf y = Buf.allocF32(arena, (long) rows * d);
        Buf rstd = Buf.allocF32(arena, rows);
        Buf xs = TourData.randn(arena, rows * ds, 3);
        Buf zs = TourData.randn(arena, rows * ds, 4);
        Buf ws = TourData.randn(arena, ds, 5);
        Buf ys = Buf.allocF32(arena, (long) rows * ds);
        Buf rs = Buf.allocF32(arena, rows);
        double bytes = 2.0 * rows * d * 4;
        return List.of(
                new TourCase("rmsNorm fwd", "rows=512 D=1280", 4.0 * rows * d, bytes,
                        () -> RmsNorm.REF.forward(x, w, y, rstd, rows, d, 1e-5f),
                        () -> RmsNorm.CPU.forward(x, w, y, rstd, rows, d, 1e-5f)),
                new TourCase("gatedRmsNorm fwd", "rows=512 D=1536 G=1", 8.0 * rows * ds, 3.0 * rows * ds * 4,
                        () -> GatedRmsNorm.REF.forward(xs, zs, ws, ys, rs, rows, ds, 1, 1e-5f),
                        () -> GatedRmsNorm.CPU.forward(xs, zs, ws, ys, rs, rows, ds, 1, 1e-5f)));
    }
}
