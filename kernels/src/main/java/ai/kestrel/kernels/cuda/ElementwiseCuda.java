package ai.kestrel.kernels.cuda;

import ai.kestrel.kernels.Buf;
import ai.kestrel.kernels.elementwise.Broadcast;
import ai.kestrel.kernels.elementwise.Elementwise;

/**
 * {@link Elementwise} on the GPU ({@code elementwise.cu}): grid-stride loops, one thread per element; row and column
 * sums one thread per column and one block per row. The static methods take device buffers; the interface methods
 * stage host buffers through the device.
 */
public final class ElementwiseCuda implements Elementwise {
    private static final int THREADS = 256;

    private static long grid(long n) {
        return Math.min(Cuda.blocks(n, THREADS), 132L * 32);
    }

    // ---- device buffers

    public static void add(Cuda c, DevBuf a, DevBuf b, DevBuf out, int rows, int cols, Broadcast bc) {
        long n = (long) rows * cols;
        c.launch("ew_add", grid(n), THREADS, 0, a, b, out, n, (long) cols, bc.ordinal());
    }

    public static void mul(Cuda c, DevBuf a, DevBuf b, DevBuf out, int rows, int cols, Broadcast bc) {
        long n = (long) rows * cols;
        c.launch("ew_mul", grid(n), THREADS, 0, a, b, out, n, (long) cols, bc.ordinal());
    }

    public static void scale(Cuda c, DevBuf a, float s, DevBuf out, long n) {
        c.launch("ew_scale", grid(n), THREADS, 0, a, s, out, n);
    }

    public static void axpy(Cuda c, float alpha, DevBuf x, DevBuf y, long n) {
        c.launch("ew_axpy", grid(n), THREADS, 0, alpha, x, y, n);
    }

    public static void unary(Cuda c, String kernel, DevBuf x, DevBuf y, long n) {
        c.launch(kernel, grid(n), THREADS, 0, x, y, n);
    }

    public static void unaryBackward(Cuda c, String kernel, DevBuf dy, DevBuf x, DevBuf dx, long n) {
        c.launch(kernel, grid(n), THREADS, 0, dy, x, dx, n);
    }

    public static void sumRows(Cuda c, DevBuf x, DevBuf out, int rows, int cols, boolean accumulate) {
        c.launch("ew_sum_rows", Cuda.blocks(cols, THREADS), THREADS, 0, x, out, rows, cols, accumulate ? 1 : 0);
    }

    public static void sumCols(Cuda c, DevBuf x, DevBuf out, int rows, int cols, boolean accumulate) {
        c.launch("ew_sum_cols", rows, THREADS, 0, x, out, rows, cols, accumulate ? 1 : 0);
    }

    /**
     * {@code out[r]} (int32, device) = the first column of row {@code r} of {@code x (rows, cols)} holding the row's
     * largest value (0 for a row of NaN): greedy decoding and token accuracy without copying logits to the host.
     */
    public static void argmaxRows(Cuda c, DevBuf x, DevBuf out, int rows, int cols) {
        c.launch("ew_argmax_rows", rows, THREADS, 0, x, out, rows, cols);
    }

    /** {@link #argmaxRows} of host or device {@code x}, the indices returned on the host. */
    public static int[] argmaxRows(Buf x, int rows, int cols) {
        try (Staging st = new Staging(Cuda.get()); DevBuf out = st.cuda().alloc(rows * 4L)) {
            argmaxRows(st.cuda(), st.in(x), out, rows, cols);
            int[] idx = new int[rows];
            try (java.lang.foreign.Arena a = java.lang.foreign.Arena.ofConfined()) {
                java.lang.foreign.MemorySegment h = a.allocate(Math.max(4, rows * 4L), 4);
                st.cuda().download(out, h.asSlice(0, rows * 4L));
                for (int r = 0; r < rows; r++) {
                    idx[r] = h.getAtIndex(java.lang.foreign.ValueLayout.JAVA_INT, r);
                }
            }
            return idx;
        }
    }

    // ---- host buffers, staged

    private static void binary(String op, Buf a, Buf b, Buf out, int rows, int cols, Broadcast bc) {
        try (Staging s = new Staging(Cuda.get())) {
            DevBuf da = s.in(a);
            DevBuf db = s.in(b);
            DevBuf dout = s.out(out);
            if (op.equals("add")) {
                add(s.cuda(), da, db, dout, rows, cols, bc);
            } else {
                mul(s.cuda(), da, db, dout, rows, cols, bc);
            }
        }
    }

    @Override
    public void add(Buf a, Buf b, Buf out, int rows, int cols, Broadcast bc) {
        binary("add", a, b, out, rows, cols, bc);
    }

    @Override
    public void mul(Buf a, Buf b, Buf out, int rows, int cols, Broadcast bc) {
        binary("mul", a, b, out, rows, cols, bc);
    }

    /** The mask drawn on the host (a function of the seed alone), then multiplied on the GPU. */
    @Override
    public void dropout(Buf x, Buf y, long n, double p, double scale, long seed) {
        float keep = (float) scale;
        float[] mask = new float[Math.toIntExact(n)];
        for (int i = 0; i < mask.length; i++) {
            mask[i] = Elementwise.draw(seed, i) < p ? 0f : keep;
        }
        try (java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofConfined()) {
            mul(x, Buf.ofF32(arena, mask), y, 1, mask.length, Broadcast.NONE);
        }
    }

    @Override
    public void scale(Buf a, double s, Buf out, long n) {
        try (Staging st = new Staging(Cuda.get())) {
            scale(st.cuda(), st.in(a), (float) s, st.out(out), n);
        }
    }

    @Override
    public void axpy(double alpha, Buf x, Buf y, long n) {
        try (Staging st = new Staging(Cuda.get())) {
            axpy(st.cuda(), (float) alpha, st.in(x), st.inOut(y), n);
        }
    }

    private static void unaryStaged(String kernel, Buf x, Buf y, long n) {
        try (Staging st = new Staging(Cuda.get())) {
            unary(st.cuda(), kernel, st.in(x), st.out(y), n);
        }
    }

    private static void backwardStaged(String kernel, Buf dy, Buf x, Buf dx, long n) {
        try (Staging st = new Staging(Cuda.get())) {
            unaryBackward(st.cuda(), kernel, st.in(dy), st.in(x), st.out(dx), n);
        }
    }

    @Override
    public void silu(Buf x, Buf y, long n) {
        unaryStaged("ew_silu", x, y, n);
    }

    @Override
    public void siluBackward(Buf dy, Buf x, Buf dx, long n) {
        backwardStaged("ew_silu_backward", dy, x, dx, n);
    }

    @Override
    public void softplus(Buf x, Buf y, long n) {
        unaryStaged("ew_softplus", x, y, n);
    }

    @Override
    public void softplusBackward(Buf dy, Buf x, Buf dx, long n) {
        backwardStaged("ew_softplus_backward", dy, x, dx, n);
    }

    @Override
    public void exp(Buf x, Buf y, long n) {
        unaryStaged("ew_exp", x, y, n);
    }

    @Override
    public void sumRows(Buf x, Buf out, int rows, int cols, boolean accumulate) {
        try (Staging st = new Staging(Cuda.get())) {
            sumRows(st.cuda(), st.in(x), st.inOut(out), rows, cols, accumulate);
        }
    }

    @Override
    public void sumCols(Buf x, Buf out, int rows, int cols, boolean accumulate) {
        try (Staging st = new Staging(Cuda.get())) {
            sumCols(st.cuda(), st.in(x), st.inOut(out), rows, cols, accumulate);
        }
    }
}
