package ai.kestrel.kernels.cuda;

import ai.kestrel.kernels.Buf;
import ai.kestrel.kernels.rope.Rope;

/**
 * {@link Rope} on the GPU ({@code rope.cu}): one block per (batch, token) row; each thread computes the angles of
 * its pairs in double (as the reference), rounds cos/sin to float once and rotates that pair in every head.
 * Shapes {@code (B, T, H, P)} row-major float32, {@code P} even.
 */
public final class RopeCuda implements Rope {
    private static Buf f32(Buf b, String what, long n) {
        return b.requireF32(what, n).slice(0, n);
    }

    private static int threads(int p) {
        return Math.min(256, Math.max(32, (p / 2 + 31) & ~31));
    }

    // ---- device buffers

    /** Rotates {@code x} forward into {@code y} (which may be {@code x}). */
    public static void forward(Cuda c, DevBuf x, DevBuf y, int b, int t, int h, int p, int start, double theta) {
        rotate(c, x, y, b, t, h, p, start, theta, 1f);
    }

    /** Rotates {@code dy} back into {@code dx} (which may be {@code dy}). */
    public static void backward(Cuda c, DevBuf dy, DevBuf dx, int b, int t, int h, int p, int start, double theta) {
        rotate(c, dy, dx, b, t, h, p, start, theta, -1f);
    }

    private static void rotate(Cuda c, DevBuf x, DevBuf y, int b, int t, int h, int p, int start, double theta, float sign) {
        Rope.checkHeadDim(p);
        if (h == 0 || p == 0) {
            return;
        }
        c.launch("rope_rotate", (long) b * t, threads(p), 0, x, y, t, h, p, start, theta, sign);
    }

    // ---- host buffers, staged

    private static void staged(Buf x, Buf y, int b, int t, int h, int p, int start, double theta, float sign) {
        Rope.checkHeadDim(p);
        long n = (long) b * t * h * p;
        try (Staging s = new Staging(Cuda.get())) {
            rotate(s.cuda(), s.in(f32(x, "x", n)), s.out(f32(y, "y", n)), b, t, h, p, start, theta, sign);
        }
    }

    @Override
    public void forward(Buf x, Buf y, int b, int t, int h, int p, int start, double theta) {
        staged(x, y, b, t, h, p, start, theta, 1f);
    }

    @Override
    public void backward(Buf dy, Buf dx, int b, int t, int h, int p, int start, double theta) {
        staged(dy, dx, b, t, h, p, start, theta, -1f);
    }
}
