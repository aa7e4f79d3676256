package ai.kestrel.kernels.cuda;

import ai.kestrel.kernels.Buf;
import ai.kestrel.kernels.scan.SelectiveScan;

/**
 * {@link SelectiveScan} on the GPU ({@code scan.cu}). Parallel over (batch, channel): a channel's {@code N} states
 * are split over a group of {@code L} lanes of one warp ({@code L} the smallest power of two {@code >= N}; 16 for
 * Falcon-Mamba), one state per lane in a register, time walked in order; {@code y} is a shuffle sum over the group.
 * Blocks of 256 threads hold {@code 256 / L} channels; the grid is (channel blocks, batch). {@code N} may be at
 * most 32.
 *
 * <p>Backward recomputes: a first pass saves the state at the start of every 32-step chunk (device scratch of
 * {@code B * ceil(T/32) * Din * N} floats), then chunks are taken from last to first, each one's states recomputed
 * into shared memory and walked backwards. {@code dB} and {@code dC} (sums over channels) and {@code dA}, the dt
 * bias and {@code D} gradients (sums over the batch) are added with float atomics, so their last bits depend on
 * timing. Shapes and layouts as {@link SelectiveScan}; the static methods take device buffers, the interface methods
 * stage host buffers.
 */
public final class SelectiveScanCuda implements SelectiveScan {
    private static final int THREADS = 256; // SCAN_THREADS in scan.cu
    private static final int CHUNK = 32; // SCAN_CHUNK in scan.cu
    /** The most states per channel: one per lane of a warp. */
    public static final int MAX_N = 32;

    /** Lanes per channel: the smallest power of two {@code >= n}. */
    private static int lanes(int n) {
        if (n < 1 || n > MAX_N) {
            throw new IllegalArgumentException("CUDA selective scan takes 1 <= N <= " + MAX_N + " states per channel, not " + n);
        }
        return n == 1 ? 1 : Integer.highestOneBit(n - 1) << 1;
    }

    private static long channelBlocks(int din, int lanes) {
        return Cuda.blocks(din, THREADS / lanes);
    }

    // ---- device buffers

    /** Forward over {@code t} steps; {@code dtBias, dskip, h0, hT} may be null. */
    public static void forward(Cuda cu, DevBuf x, DevBuf dt, DevBuf dtBias, DevBuf a, DevBuf bm, DevBuf cm, DevBuf dskip,
                               DevBuf h0, DevBuf y, DevBuf hT, int b, int t, int din, int n) {
        int l = lanes(n);
        // the arguments as one array select the 3-D launch
        cu.launch("scan_forward", channelBlocks(din, l), b, 1, THREADS, 1, 0,
                new Object[] {x, dt, dtBias, a, bm, cm, dskip, h0, y, hT, t, din, n, l});
    }

    /**
     * Gradients of {@link #forward} for {@code dy} (the final state's gradient taken as zero): {@code dx, ddt, dB, dC,
     * dh0} overwritten; {@code ddtBias, dA, dD} accumulated; any of them may be null. Uses device scratch for the
     * chunk checkpoints, returned to the allocator after the launch (launches are stream-ordered).
     */
    public static void backward(Cuda cu, DevBuf dy, DevBuf x, DevBuf dt, DevBuf dtBias, DevBuf a, DevBuf bm, DevBuf cm,
                                DevBuf dskip, DevBuf h0, DevBuf dx, DevBuf ddt, DevBuf ddtBias, DevBuf dA, DevBuf dB,
                                DevBuf dC, DevBuf dD, DevBuf dh0, int b, int t, int din, int n) {
        int l = lanes(n);
        long btn = (long) b * t * n;
        if (dB != null) {
            cu.launch("scan_zero", Math.min(Cuda.blocks(btn, THREADS), 132L * 32), THREADS, 0, dB, btn);
        }
        if (dC != null) {
            cu.launch("scan_zero", Math.min(Cuda.blocks(btn, THREADS), 132L * 32), THREADS, 0, dC, btn);
        }
        long chunks = (t + CHUNK - 1) / CHUNK;
        try (DevBuf ck = cu.alloc(b * chunks * din * n * Float.BYTES)) {
            cu.launch("scan_backward", channelBlocks(din, l), b, 1, THREADS, 1, 0,
                    new Object[] {dy, x, dt, dtBias, a, bm, cm, dskip, h0, dx, ddt, ddtBias, dA, dB, dC, dD, dh0, ck, t,
                        din, n, l});
        }
    }

    /** One token: {@code x, dt, y (B, Din)}, {@code bm, cm (B, N)}, state {@code h (B, Din, N)} updated in place. */
    public static void step(Cuda cu, DevBuf x, DevBuf dt, DevBuf dtBias, DevBuf a, DevBuf bm, DevBuf cm, DevBuf dskip,
                            DevBuf h, DevBuf y, int b, int din, int n) {
        int l = lanes(n);
        cu.launch("scan_step", channelBlocks(din, l), b, 1, THREADS, 1, 0,
                new Object[] {x, dt, dtBias, a, bm, cm, dskip, h, y, din, n, l});
    }

    // ---- host buffers, staged

    @Override
    public void forward(Buf x, Buf dt, Buf dtBias, Buf a, Buf bm, Buf cm, Buf dskip, Buf h0, Buf y, Buf hT, int b, int t,
                        int din, int n) {
        try (Staging s = new Staging(Cuda.get())) {
            forward(s.cuda(), s.in(x), s.in(dt), s.in(dtBias), s.in(a), s.in(bm), s.in(cm), s.in(dskip), s.in(h0),
                    s.out(y), s.out(hT), b, t, din, n);
        }
    }

    @Override
    public void backward(Buf dy, Buf x, Buf dt, Buf dtBias, Buf a, Buf bm, Buf cm, Buf dskip, Buf h0, Buf dx, Buf ddt,
                         Buf ddtBias, Buf dA, Buf dB, Buf dC, Buf dD, Buf dh0, int b, int t, int din, int n) {
        try (Staging s = new Staging(Cuda.get())) {
            backward(s.cuda(), s.in(dy), s.in(x), s.in(dt), s.in(dtBias), s.in(a), s.in(bm), s.in(cm), s.in(dskip),
                    s.in(h0), s.out(dx), s.out(ddt), s.inOut(ddtBias), s.inOut(dA), s.out(dB), s.out(dC), s.inOut(dD),
                    s.out(dh0), b, t, din, n);
        }
    }

    @Override
    public void step(Buf x, Buf dt, Buf dtBias, Buf a, Buf bm, Buf cm, Buf dskip, Buf h, Buf y, int b, int din, int n) {
        try (Staging s = new Staging(Cuda.get())) {
            step(s.cuda(), s.in(x), s.in(dt), s.in(dtBias), s.in(a), s.in(bm), s.in(cm), s.in(dskip), s.inOut(h),
                    s.out(y), b, din, n);
        }
    }
}
