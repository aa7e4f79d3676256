package ai.kestrel.kernels.cuda;

import ai.kestrel.kernels.Buf;
import ai.kestrel.kernels.softmax.Softmax;

/**
 * {@link Softmax} on the GPU ({@code softmax.cu}): one block per row, max and sum reduced over the block in float.
 * The static methods take device buffers (row-major {@code (rows, d)} float32); the interface methods stage host
 * buffers through the device.
 */
public final class SoftmaxCuda implements Softmax {
    /** Threads per row: a warp multiple covering {@code d}, at most 1024. */
    static int rowThreads(int d) {
        return Math.min(1024, Math.max(32, (d + 31) & ~31));
    }

    private static Buf f32(Buf b, String what, long n) {
        return b.requireF32(what, n).slice(0, n);
    }

    // ---- device buffers

    /** {@code y = softmax(x)} row by row; {@code y} may be {@code x}. */
    public static void forward(Cuda c, DevBuf x, DevBuf y, int rows, int d) {
        c.launch("sm_forward", rows, rowThreads(d), 0, x, y, d);
    }

    /** {@code dx = y * (dy - sum(dy * y))} row by row. */
    public static void backward(Cuda c, DevBuf dy, DevBuf y, DevBuf dx, int rows, int d) {
        c.launch("sm_backward", rows, rowThreads(d), 0, dy, y, dx, d);
    }

    // ---- host buffers, staged

    @Override
    public void forward(Buf x, Buf y, int rows, int d) {
        long n = (long) rows * d;
        try (Staging s = new Staging(Cuda.get())) {
            forward(s.cuda(), s.in(f32(x, "x", n)), s.out(f32(y, "y", n)), rows, d);
        }
    }

    @Override
    public void backward(Buf dy, Buf y, Buf dx, int rows, int d) {
        long n = (long) rows * d;
        try (Staging s = new Staging(Cuda.get())) {
            backward(s.cuda(), s.in(f32(dy, "dy", n)), s.in(f32(y, "y", n)), s.out(f32(dx, "dx", n)), rows, d);
        }
    }
}
