package ai.kestrel.kernels.cuda;

import ai.kestrel.kernels.Buf;
import ai.kestrel.kernels.norm.GatedRmsNorm;

/**
 * {@link GatedRmsNorm} on the GPU ({@code norm.cu}): forward and {@code dx, dz} one block per (row, group), the
 * gate {@code g = x * silu(z)} recomputed rather than stored; {@code dw} one thread per column over chunks of 64
 * rows, added into {@code dw} with atomicAdd. Shapes: {@code x, z, y, dy, dx, dz (rows, d)}, {@code w, dw (d)},
 * {@code rstd (rows, groups)}, float32.
 */
public final class GatedRmsNormCuda implements GatedRmsNorm {
    // ---- device buffers

    /** {@code y = w * g * rstd} per (row, group); {@code rstd} may be {@code null}. */
    public static void forward(Cuda c, DevBuf x, DevBuf z, DevBuf w, DevBuf y, DevBuf rstd, int rows, int d, int groups,
                               float eps) {
        int gs = GatedRmsNorm.groupSize(d, groups);
        c.launch("grms_forward", (long) rows * groups, RmsNormCuda.rowThreads(gs), 0, x, z, w, y, rstd, groups, gs, eps);
    }

    /** Gradients: {@code dx}, {@code dz} overwritten, {@code dw += ...}; any may be {@code null}. */
    public static void backward(Cuda c, DevBuf dy, DevBuf x, DevBuf z, DevBuf w, DevBuf rstd, DevBuf dx, DevBuf dz,
                                DevBuf dw, int rows, int d, int groups) {
        int gs = GatedRmsNorm.groupSize(d, groups);
        if (dx != null || dz != null) {
            c.launch("grms_backward_dxdz", (long) rows * groups, RmsNormCuda.rowThreads(gs), 0, dy, x, z, w, rstd, dx, dz,
                    groups, gs);
        }
        if (dw != null && rows > 0) {
            c.launch("grms_backward_dw", Cuda.blocks(d, RmsNormCuda.DW_THREADS), (int) Cuda.blocks(rows, RmsNormCuda.DW_ROWS),
                    1, RmsNormCuda.DW_THREADS, 1, 0, new Object[] {dy, x, z, rstd, dw, rows, d, groups, gs});
        }
    }

    // ---- host buffers, staged

    @Override
    public void forward(Buf x, Buf z, Buf w, Buf y, Buf rstd, int rows, int d, int groups, float eps) {
        GatedRmsNorm.groupSize(d, groups);
        long n = (long) rows * d;
        try (Staging s = new Staging(Cuda.get())) {
            forward(s.cuda(), s.in(RmsNormCuda.f32(x, "x", n)), s.in(RmsNormCuda.f32(z, "z", n)),
                    s.in(RmsNormCuda.f32(w, "w", d)), s.out(RmsNormCuda.f32(y, "y", n)),
                    s.out(RmsNormCuda.f32(rstd, "rstd", (long) rows * groups)), rows, d, groups, eps);
        }
    }

    @Override
    public void backward(Buf dy, Buf x, Buf z, Buf w, Buf rstd, Buf dx, Buf dz, Buf dw, int rows, int d, int groups) {
        GatedRmsNorm.groupSize(d, groups);
        long n = (long) rows * d;
        try (Staging s = new Staging(Cuda.get())) {
            backward(s.cuda(), s.in(RmsNormCuda.f32(dy, "dy", n)), s.in(RmsNormCuda.f32(x, "x", n)),
                    s.in(RmsNormCuda.f32(z, "z", n)), s.in(RmsNormCuda.f32(w, "w", d)),
                    s.in(RmsNormCuda.f32(rstd, "rstd", (long) rows * groups)), s.out(RmsNormCuda.f32(dx, "dx", n)),
                    s.out(RmsNormCuda.f32(dz, "dz", n)), s.inOut(RmsNormCuda.f32(dw, "dw", d)), rows, d, groups);
        }
    }
}
