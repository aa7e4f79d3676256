package ai.kestrel.kernels.cuda;

import ai.kestrel.kernels.Buf;
import ai.kestrel.kernels.norm.RmsNorm;

/**
 * {@link RmsNorm} on the GPU ({@code norm.cu}): forward and {@code dx} one block per row (sum of squares and the
 * backward dot product reduced over the block in float); {@code dw} one thread per column over chunks of 64 rows,
 * added into {@code dw} with atomicAdd. Shapes: {@code x, y, dy, dx (rows, d)}, {@code w, dw (d)}, {@code rstd (rows)},
 * float32.
 */
public final class RmsNormCuda implements RmsNorm {
    /** Rows per block of the weight-gradient kernels ({@code NORM_DW_ROWS} in norm.cu). */
    static final int DW_ROWS = 64;
    static final int DW_THREADS = 256;

    /** Threads per row: a warp multiple covering {@code d / 2}, at most 512. */
    static int rowThreads(int d) {
        return Math.min(512, Math.max(32, (d / 2 + 31) & ~31));
    }

    static Buf f32(Buf b, String what, long n) {
        return b == null ? null : b.requireF32(what, n).slice(0, n);
    }

    // ---- device buffers

    /** {@code y = w * x * rstd} row by row; {@code rstd} may be {@code null}, {@code y} may be {@code x}. */
    public static void forward(Cuda c, DevBuf x, DevBuf w, DevBuf y, DevBuf rstd, int rows, int d, float eps) {
        c.launch("rms_forward", rows, rowThreads(d), 0, x, w, y, rstd, d, eps);
    }

    /** Gradients: {@code dx} overwritten, {@code dw += ...}; either may be {@code null}. */
    public static void backward(Cuda c, DevBuf dy, DevBuf x, DevBuf w, DevBuf rstd, DevBuf dx, DevBuf dw, int rows, int d) {
        if (dx != null) {
            c.launch("rms_backward_dx", rows, rowThreads(d), 0, dy, x, w, rstd, dx, d);
        }
        if (dw != null && rows > 0) {
            // grid (column blocks, row chunks); the arguments as an array pick the 3-D launch overload
            c.launch("rms_backward_dw", Cuda.blocks(d, DW_THREADS), (int) Cuda.blocks(rows, DW_ROWS), 1, DW_THREADS, 1, 0,
                    new Object[] {dy, x, rstd, dw, rows, d});
        }
    }

    // ---- host buffers, staged

    @Override
    public void forward(Buf x, Buf w, Buf y, Buf rstd, int rows, int d, float eps) {
        long n = (long) rows * d;
        try (Staging s = new Staging(Cuda.get())) {
            forward(s.cuda(), s.in(f32(x, "x", n)), s.in(f32(w, "w", d)), s.out(f32(y, "y", n)),
                    s.out(f32(rstd, "rstd", rows)), rows, d, eps);
        }
    }

    @Override
    public void backward(Buf dy, Buf x, Buf w, Buf rstd, Buf dx, Buf dw, int rows, int d) {
        long n = (long) rows * d;
        try (Staging s = new Staging(Cuda.get())) {
            backward(s.cuda(), s.in(f32(dy, "dy", n)), s.in(f32(x, "x", n)), s.in(f32(w, "w", d)),
                    s.in(f32(rstd, "rstd", rows)), s.out(f32(dx, "dx", n)), s.inOut(f32(dw, "dw", d)), rows, d);
        }
    }
}
