package ai.kestrel.kernels.cuda;

import ai.kestrel.kernels.Buf;
import ai.kestrel.kernels.conv.CausalConv1d;

/**
 * {@link CausalConv1d} on the GPU ({@code conv.cu}). Forward, input gradients and the one-token step run one thread
 * per output element (channels fastest, so loads are coalesced); the weight and bias gradients sum over the
 * {@code B*T} rows in slices (blocks of 32 channels x 8 row lanes, one block per (channel block, slice, tap)), and a
 * second kernel adds the slices in a fixed order, so the result does not depend on timing. Shapes and layouts as
 * {@link CausalConv1d}; the static methods take device buffers, the interface methods stage host buffers.
 */
public final class CausalConv1dCuda implements CausalConv1d {
    private static final int THREADS = 256;
    /** Rows per thread aimed at by the weight-gradient slices. */
    private static final int ROWS_PER_THREAD = 16;
    private static final int MAX_SLICES = 128;

    private static long grid(long n) {
        return Math.min(Cuda.blocks(n, THREADS), 132L * 32);
    }

    // ---- device buffers

    /**
     * {@code y (B, T, C)} from {@code x (B, T, C)}, {@code w (C, W)}, {@code bias (C)} or null, {@code state0
     * (B, W-1, C)} or null (zeros); {@code stateOut (B, W-1, C)} or null gets the last W-1 inputs and may be the
     * same buffer as {@code state0}.
     */
    public static void forward(Cuda cu, DevBuf x, DevBuf w, DevBuf bias, DevBuf state0, DevBuf y, DevBuf stateOut,
                               int b, int t, int c, int width) {
        cu.launch("conv_forward", grid((long) b * t * c), THREADS, 0, x, w, bias, state0, y, b, t, c, width);
        if (stateOut != null) {
            cu.launch("conv_state_out", grid((long) b * c), THREADS, 0, x, state0, stateOut, b, t, c, width);
        }
    }

    /**
     * Gradients of {@link #forward}: {@code dx (B, T, C)} and {@code dstate0 (B, W-1, C)} overwritten (either may be
     * null); {@code dw (C, W)} and {@code dbias (C)} accumulated (either may be null). Uses a device scratch of
     * {@code slices * (W+1) * C} floats, returned to the allocator after the launches (they are stream-ordered).
     */
    public static void backward(Cuda cu, DevBuf dy, DevBuf x, DevBuf w, DevBuf state0, DevBuf dx, DevBuf dw,
                                DevBuf dbias, DevBuf dstate0, int b, int t, int c, int width) {
        if (dx != null || dstate0 != null) {
            cu.launch("conv_backward_dx", grid((long) b * (t + width - 1) * c), THREADS, 0, dy, w, dx, dstate0, b, t, c,
                    width);
        }
        long rows = (long) b * t;
        if (width + 1 > 64) {
            throw new IllegalArgumentException("conv window " + width + ": the weight gradient's grid takes at most 63 taps");
        }
        if ((dw == null && dbias == null) || rows == 0 || c == 0) {
            return;
        }
        int slices = (int) Math.max(1, Math.min(MAX_SLICES, Cuda.blocks(rows, 8 * ROWS_PER_THREAD)));
        try (DevBuf partial = cu.alloc((long) slices * (width + 1) * c * Float.BYTES)) {
            // the arguments as one array select the 3-D launch (with loose ints the 1-D one would match too)
            cu.launch("conv_backward_dw_partial", Cuda.blocks(c, 32), slices, width + 1, 32, 8, 0,
                    new Object[] {dy, x, state0, partial, b, t, c, width});
            cu.launch("conv_backward_dw_reduce", grid((long) (width + 1) * c), THREADS, 0, partial, dw, dbias, slices,
                    c, width);
        }
    }

    /**
     * One token: {@code x, y (B, C)}; {@code state (B, W-1, C)} holds the previous W-1 inputs and is shifted in place
     * to end with {@code x}.
     */
    public static void step(Cuda cu, DevBuf x, DevBuf w, DevBuf bias, DevBuf state, DevBuf y, int b, int c, int width) {
        cu.launch("conv_step", grid((long) b * c), THREADS, 0, x, w, bias, state, y, b, c, width);
    }

    // ---- host buffers, staged

    @Override
    public void forward(Buf x, Buf w, Buf bias, Buf state0, Buf y, Buf stateOut, int b, int t, int c, int width) {
        try (Staging s = new Staging(Cuda.get())) {
            forward(s.cuda(), s.in(x), s.in(w), s.in(bias), s.in(state0), s.out(y), s.out(stateOut), b, t, c, width);
        }
    }

    @Override
    public void backward(Buf dy, Buf x, Buf w, Buf state0, Buf dx, Buf dw, Buf dbias, Buf dstate0, int b, int t, int c,
                         int width) {
        try (Staging s = new Staging(Cuda.get())) {
            backward(s.cuda(), s.in(dy), s.in(x), s.in(w), s.in(state0), s.out(dx), s.inOut(dw), s.inOut(dbias),
                    s.out(dstate0), b, t, c, width);
        }
    }

    @Override
    public void step(Buf x, Buf w, Buf bias, Buf state, Buf y, int b, int c, int width) {
        try (Staging s = new Staging(Cuda.get())) {
            step(s.cuda(), s.in(x), s.in(w), s.in(bias), s.inOut(state), s.out(y), b, c, width);
        }
    }
}
