package ai.kestrel.kernels.cuda;

import ai.kestrel.kernels.Buf;
import ai.kestrel.kernels.ssd.SsdScan;
import ai.kestrel.kernels.ssd.SsdScan.Dims;

/**
 * {@link SsdScan} on the GPU ({@code ssd.cu}): the sequential recurrence with a float32 state, exact whatever the
 * chunk length. A block owns one (batch, head) and 8 rows of its {@code (P, N)} state (one warp per row, lanes over
 * the state width), so the grid is {@code (B * H, ceil(P / 8))}; time steps are staged in shared memory 8 at a time.
 * <ul>
 *   <li>Forward walks time once; {@link #step} is the forward with {@code T = 1} and the state updated in place.</li>
 *   <li>Backward first walks forward keeping the state before every {@code chunk}-th step (scratch
 *       {@code (B, H, ceil(T / chunk), P, N)}), then per segment from the last recomputes the segment's states
 *       (scratch {@code (B, H, chunk, P, N)}) and walks it back. {@code dB}, {@code dC} (summed over a group's heads
 *       and the row blocks) and {@code ddt} (over the row blocks) are float atomic sums, so their last bits depend on
 *       the order the blocks run in.</li>
 * </ul>
 * <p>The forward has two variants, chosen by the constructor ({@link #SsdScanCuda(boolean)}) or, for the no-argument
 * instance and the static {@link #forward(Cuda, DevBuf, DevBuf, DevBuf, DevBuf, DevBuf, DevBuf, DevBuf, DevBuf,
 * DevBuf, DevBuf, Dims)}, by the system property {@value #PROPERTY}, read on every call:
 * <ul>
 *   <li>{@code step} (the default): the sequential recurrence above ({@code ssd_forward}).</li>
 *   <li>{@code chunked}: the chunked SSD algorithm ({@code ssdc_*} kernels), parallel over chunks of
 *       {@code Dims.chunk} steps: per (batch, chunk, head) the chunk's own state contribution, then per (batch, head)
 *       the states passed across chunks in order, then per (batch, chunk, head) the quadratic intra-chunk term plus
 *       the entering state's read. Plain float FMA on 16 x 16 shared-memory tiles. Device scratch:
 *       {@code B * H * (2 T + ceil(T / chunk) * P * N)} floats. Its sums run in another order than the recurrence,
 *       so results agree to float rounding, not bit for bit.</li>
 * </ul>
 * {@link #step} (generation, {@code T = 1}) always runs {@code ssd_forward}.
 * The static methods take device buffers (float32, layouts as {@link SsdScan} documents; optional ones may be
 * {@code null}); the interface methods stage host buffers through them.
 */
public final class SsdScanCuda implements SsdScan {
    private static final int ROWS = 8; // SSD_ROWS in ssd.cu
    private static final int TILE = 8; // SSD_TILE in ssd.cu
    private static final int THREADS = ROWS * 32;
    private static final int CT = 16; // SSDC_T in ssd.cu
    /** The system property choosing the forward variant: {@code step} (default) or {@code chunked}. */
    public static final String PROPERTY = "kestrel.cuda.ssd";

    /** {@code null}: the variant {@value #PROPERTY} names on each call; else true for chunked. */
    private final Boolean chunked;

    /** The forward variant {@value #PROPERTY} names, read on every call. */
    public SsdScanCuda() {
        this.chunked = null;
    }

    /** A fixed forward variant: chunked ({@code ssdc_*}) when true, else the sequential recurrence. */
    public SsdScanCuda(boolean chunked) {
        this.chunked = chunked;
    }

    /** Whether {@value #PROPERTY} asks for the chunked forward now. */
    public static boolean chunkedByProperty() {
        String v = System.getProperty(PROPERTY, "step");
        return switch (v) {
            case "chunked" -> true;
            case "step" -> false;
            default -> throw new IllegalArgumentException(PROPERTY + " must be chunked or step, not " + v);
        };
    }

    private static int forwardShared(int n) {
        return 4 * (ROWS * n + 2 * TILE * n + TILE * ROWS + 2 * TILE);
    }

    private static int backwardShared(int n) {
        return 4 * (4 * ROWS * n + 2 * TILE * n + 2 * TILE * ROWS + 3 * TILE + 2 * ROWS);
    }

    private static int rowBlocks(Dims m) {
        return (m.p() + ROWS - 1) / ROWS;
    }

    // ---- device buffers
    // (the 2-D launches pass their arguments as an Object[]: with varargs, launch(name, gx, gy, 1, ...) would be
    // ambiguous between Cuda's 1-D and 3-D overloads)

    /**
     * Computes {@code y (B, T, H, P)}, and the final state into {@code sT} when not {@code null}, with the variant
     * {@value #PROPERTY} names.
     */
    public static void forward(Cuda c, DevBuf x, DevBuf dt, DevBuf dtBias, DevBuf a, DevBuf bm, DevBuf cm, DevBuf d,
                               DevBuf s0, DevBuf y, DevBuf sT, Dims m) {
        forward(c, x, dt, dtBias, a, bm, cm, d, s0, y, sT, m, chunkedByProperty());
    }

    /** {@link #forward(Cuda, DevBuf, DevBuf, DevBuf, DevBuf, DevBuf, DevBuf, DevBuf, DevBuf, DevBuf, DevBuf, Dims)}
     * with the variant given: chunked ({@code ssdc_*}) when {@code chunked}, else the sequential recurrence. */
    public static void forward(Cuda c, DevBuf x, DevBuf dt, DevBuf dtBias, DevBuf a, DevBuf bm, DevBuf cm, DevBuf d,
                               DevBuf s0, DevBuf y, DevBuf sT, Dims m, boolean chunked) {
        if (chunked && m.t() > 0 && m.b() > 0) {
            forwardChunked(c, x, dt, dtBias, a, bm, cm, d, s0, y, sT, m);
        } else {
            forwardStep(c, x, dt, dtBias, a, bm, cm, d, s0, y, sT, m);
        }
    }

    private static void forwardStep(Cuda c, DevBuf x, DevBuf dt, DevBuf dtBias, DevBuf a, DevBuf bm, DevBuf cm,
                                    DevBuf d, DevBuf s0, DevBuf y, DevBuf sT, Dims m) {
        c.launch("ssd_forward", (long) m.b() * m.h(), rowBlocks(m), 1, THREADS, 1, forwardShared(m.n()),
                new Object[] {x, dt, dtBias, a, bm, cm, d, s0, y, sT, m.t(), m.h(), m.p(), m.g(), m.n()});
    }

    private static void forwardChunked(Cuda c, DevBuf x, DevBuf dt, DevBuf dtBias, DevBuf a, DevBuf bm, DevBuf cm,
                                       DevBuf d, DevBuf s0, DevBuf y, DevBuf sT, Dims m) {
        int l = Math.min(m.chunk(), m.t());
        int nc = (m.t() + l - 1) / l;
        long bh = (long) m.b() * m.h();
        long pn = (long) m.p() * m.n();
        try (DevBuf dl = c.alloc(bh * m.t() * 4); DevBuf ll = c.alloc(bh * m.t() * 4);
             DevBuf st = c.alloc(bh * nc * pn * 4)) {
            c.launch("ssdc_decay", bh, 1, 1, 128, 1, 0, new Object[] {dt, dtBias, a, dl, ll, m.t(), m.h(), l});
            c.launch("ssdc_chunk_state", bh * nc, (m.p() + CT - 1) / CT, (m.n() + CT - 1) / CT, CT * CT, 1, 0,
                    new Object[] {x, bm, dl, ll, st, m.t(), m.h(), m.p(), m.g(), m.n(), l});
            c.launch("ssdc_pass", bh, (int) ((pn + 255) / 256), 1, 256, 1, 0,
                    new Object[] {ll, s0, st, sT, m.t(), m.h(), m.p(), m.n(), l});
            c.launch("ssdc_output", bh * nc, (l + CT - 1) / CT, (m.p() + CT - 1) / CT, CT * CT, 1, 0,
                    new Object[] {x, bm, cm, d, dl, ll, st, y, m.t(), m.h(), m.p(), m.g(), m.n(), l});
        }
    }

    /**
     * One generation step: {@code x, y (B, H, P)}, {@code dt (B, H)}, {@code bm, cm (B, G, N)}, {@code state
     * (B, H, P, N)} updated in place; {@code m.t()} is ignored.
     */
    public static void step(Cuda c, DevBuf x, DevBuf dt, DevBuf dtBias, DevBuf a, DevBuf bm, DevBuf cm, DevBuf d,
                            DevBuf state, DevBuf y, Dims m) {
        Dims one = new Dims(m.b(), 1, m.h(), m.p(), m.g(), m.n(), 1);
        forwardStep(c, x, dt, dtBias, a, bm, cm, d, state, y, state, one);
    }

    private static void zero(Cuda c, DevBuf v, long n) {
        if (v != null && n > 0) {
            c.launch("ssd_zero", Math.min(Cuda.blocks(n, 256), 132L * 32), 256, 0, v, n);
        }
    }

    /**
     * Gradients of {@code y} as {@link SsdScan#backward} defines them: {@code dx, ddt, dB, dC, ds0} overwritten,
     * {@code ddtBias, dA, dD} accumulated; any output may be {@code null}. Takes two device scratch buffers,
     * {@code B * H * P * N * (ceil(T / L) + L)} floats in all with {@code L = min(chunk, T)}.
     */
    public static void backward(Cuda c, DevBuf dy, DevBuf x, DevBuf dt, DevBuf dtBias, DevBuf a, DevBuf bm, DevBuf cm,
                                DevBuf d, DevBuf s0, DevBuf dx, DevBuf ddt, DevBuf ddtBias, DevBuf dA, DevBuf dB,
                                DevBuf dC, DevBuf dD, DevBuf ds0, Dims m) {
        long bt = (long) m.b() * m.t();
        zero(c, ddt, bt * m.h());
        zero(c, dB, bt * m.g() * m.n());
        zero(c, dC, bt * m.g() * m.n());
        int seg = Math.max(1, Math.min(m.chunk(), m.t()));
        long segments = Math.max(1, (m.t() + seg - 1) / seg);
        long state = (long) m.b() * m.h() * m.p() * m.n() * 4;
        try (DevBuf ck = c.alloc(state * segments); DevBuf ss = c.alloc(state * seg)) {
            c.launch("ssd_backward", (long) m.b() * m.h(), rowBlocks(m), 1, THREADS, 1, backwardShared(m.n()),
                    new Object[] {dy, x, dt, dtBias, a, bm, cm, d, s0, dx, ddt, ddtBias, dA, dB, dC, dD, ds0, ck, ss,
                        m.t(), m.h(), m.p(), m.g(), m.n(), seg});
        }
    }

    // ---- host buffers, staged

    @Override
    public void forward(Buf x, Buf dt, Buf dtBias, Buf a, Buf bm, Buf cm, Buf d, Buf s0, Buf y, Buf sT, Dims dims) {
        try (Staging s = new Staging(Cuda.get())) {
            forward(s.cuda(), s.in(x), s.in(dt), s.in(dtBias), s.in(a), s.in(bm), s.in(cm), s.in(d), s.in(s0),
                    s.out(y), s.out(sT), dims, chunked != null ? chunked : chunkedByProperty());
        }
    }

    @Override
    public void backward(Buf dy, Buf x, Buf dt, Buf dtBias, Buf a, Buf bm, Buf cm, Buf d, Buf s0,
                         Buf dx, Buf ddt, Buf ddtBias, Buf dA, Buf dB, Buf dC, Buf dD, Buf ds0, Dims dims) {
        try (Staging s = new Staging(Cuda.get())) {
            backward(s.cuda(), s.in(dy), s.in(x), s.in(dt), s.in(dtBias), s.in(a), s.in(bm), s.in(cm), s.in(d),
                    s.in(s0), s.out(dx), s.out(ddt), s.inOut(ddtBias), s.inOut(dA), s.out(dB), s.out(dC),
                    s.inOut(dD), s.out(ds0), dims);
        }
    }

    @Override
    public void step(Buf x, Buf dt, Buf dtBias, Buf a, Buf bm, Buf cm, Buf d, Buf state, Buf y, Dims dims) {
        try (Staging s = new Staging(Cuda.get())) {
            step(s.cuda(), s.in(x), s.in(dt), s.in(dtBias), s.in(a), s.in(bm), s.in(cm), s.in(d), s.inOut(state),
                    s.out(y), dims);
        }
    }
}
