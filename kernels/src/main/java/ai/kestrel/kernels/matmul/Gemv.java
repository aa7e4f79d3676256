package ai.kestrel.kernels.matmul;

import static ai.kestrel.kernels.Vec.F;

import ai.kestrel.kernels.Buf;
import ai.kestrel.kernels.Parallel;
import ai.kestrel.kernels.quant.Dequant;
import ai.kestrel.kernels.quant.HalfRounding;
import ai.kestrel.kernels.quant.Q8Activations;
import ai.kestrel.kernels.quant.WeightFormat;
import ai.kestrel.kernels.quant.Weights;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

/**
 * The decode path of {@code y = x·Wᵀ + b} for a few rows of {@code x}: bandwidth-bound, so each weight byte is
 * read from memory exactly once. Threads take chunks of quads (four weight rows). One row of x is dotted with
 * the stored bytes directly ({@link GemvFused}); several rows of x share each weight row's conversion where a
 * multi-row kernel exists, and otherwise the four rows are decoded into an L1/L2-resident float tile and every
 * row of {@code x} is dotted against them with lane-parallel accumulators reduced once at the end.
 */
final class Gemv {
    /** Weight rows per task unit. */
    static final int ROWS = 4;


    private Gemv() {
    }

    static void forward(Buf xb, Weights w, Buf bias, Buf yb, int m) {
        forwardMany(xb, new Weights[] {w}, new Buf[] {bias}, new Buf[] {yb}, m);
    }

    /**
     * {@code ys[j] = x·ws[j]ᵀ + biases[j]} for matrices that share {@code x} (and so their {@code k}), in one
     * parallel job over all their weight rows: a decode step's projections of one input (q, k, v and the SSM's
     * in_proj; the MLP's gate and up) then cost one hand-off to the pool instead of one each. {@code biases}
     * may be {@code null} or hold {@code null}s.
     */
    static void forwardMany(Buf xb, Weights[] ws, Buf[] biases, Buf[] ys, int m) {
        int k = ws[0].k();
        float[] x = new float[m * k];
        MemorySegment.copy(xb.seg(), Buf.F32, 0, x, 0, m * k);
        Part[] parts = new Part[ws.length];
        PREPARED.get().reset();
        int quads = 0;
        long maxRowBytes = 1;
        for (int j = 0; j < ws.length; j++) {
            Weights w = ws[j]; // all with k columns (MatmulCpu checks)
            Part same = null;
            for (int i = 0; i < j; i++) {
                if (parts[i].w.format() == w.format() && parts[i].w.roundsInput() == w.roundsInput()) {
                    same = parts[i];
                }
            }
            Buf bias = biases == null ? null : biases[j];
            parts[j] = new Part(w, bias == null ? null : bias.seg(), ys[j].seg(), quads, x, m, same);
            quads += (w.n() + ROWS - 1) / ROWS;
            maxRowBytes = Math.max(maxRowBytes, w.rowBytes());
        }
        // grain: enough quads per chunk that a chunk streams at least ~256 KB of weights
        int grain = (int) Math.max(1, (256L << 10) / (ROWS * maxRowBytes));
        Parallel.range(quads, grain, (lo, hi) -> {
            Scratch s = new Scratch();
            for (Part p : parts) {
                int end = p.first + (p.w.n() + ROWS - 1) / ROWS;
                int a = Math.max(lo, p.first);
                int b = Math.min(hi, end);
                if (a < b) {
                    p.run(a - p.first, b - p.first, m, s);
                }
            }
        });
    }

    /**
     * Each calling thread's 64-byte aligned buffer for what the single-row kernels read of x ({@link GemvFused#prepare}):
     * a call takes slices of it in order (one per weight format it multiplies) and the next call on the thread
     * starts again at the front, after the pool's threads have finished reading.
     */
    private static final ThreadLocal<Prepared> PREPARED = ThreadLocal.withInitial(Prepared::new);

    private static final class Prepared {
        private MemorySegment buf = MemorySegment.NULL;
        private long used;

        /** Starts a call's slices over. */
        Prepared reset() {
            used = 0;
            return this;
        }

        /** The next {@code bytes} (a multiple of 64) of this call; a larger buffer when they do not fit. */
        MemorySegment next(long bytes) {
            if (used + bytes > buf.byteSize()) {
                // slices handed out earlier in this call keep the old buffer alive until the call ends
                buf = Arena.ofAuto().allocate(Math.max(2 * buf.byteSize(), used + bytes + (16L << 10)), 64);
                used = 0;
            }
            MemorySegment s = buf.asSlice(used, bytes);
            used += bytes;
            return s;
        }
    }

    /** One chunk's buffers. */
    private static final class Scratch {
        float[] tile; // the decode-to-tile path's buffer, only where it is taken
        final float[] out = new float[ROWS * 4];
        final float[] acc = new float[GemvFused.ACC_FLOATS]; // the single-row kernels' scratch
        final float[][] xs = new float[4][]; // the multi-row kernel's four rows of x (and what it reads of them)
        final float[][] xps = new float[4][];
    }

    /** One matrix of a {@link #forwardMany} call: its quads start at {@code first} in the job's numbering. */
    private static final class Part {
        final Weights w;
        final MemorySegment bias;
        final MemorySegment y;
        final int first;
        final boolean fused;
        final boolean rows;
        final GemvFused.PreparedX xp;
        final float[][] xr;
        final float[][] xrp;
        final GemvFused.PreparedX[] xp1; // each row of x as the single-row kernel reads it, where the tail takes that kernel
        // the m rows of x for the paths that read them (the tile path, the multi-row kernel's rows): for Q8_0, rounded
        // as ggml rounds them (Q8Activations). One row against whole quads reads only xp, rounded by prepare: there the
        // copy is not made (it cost an allocation and a rounding per decode product)
        final float[] x;

        Part(Weights w, MemorySegment bias, MemorySegment y, int first, float[] x, int m, Part sameFormat) {
            this.w = w;
            this.bias = bias;
            this.y = y;
            this.first = first;
            int k = w.k();
            fused = m == 1 && GemvFused.fuses(w.format());
            rows = m > 1 && GemvFused.fusesRows(w.format());
            boolean round = w.format() == WeightFormat.Q8_0 && (!fused || w.n() % ROWS != 0);
            if (sameFormat != null) {
                // what the kernels read of x depends only on the format and its rounding: share it (for Q8_0, x
                // rounded, if this matrix reads it and the other one did not)
                this.x = round && sameFormat.x == x ? Q8Activations.round(x, m, k) : sameFormat.x;
                xp = sameFormat.xp;
                xr = sameFormat.xr;
                xrp = sameFormat.xrp;
                xp1 = sameFormat.xp1;
                return;
            }
            if (w.roundsInput() && HalfRounding.rounds(w.format())) {
                x = HalfRounding.round(w.format(), x, m, k); // F16 / BF16 as ggml rounds them: every path reads this copy
            }
            this.x = round ? Q8Activations.round(x, m, k) : x;
            xp = fused ? GemvFused.prepare(w.format(), x, k, PREPARED.get().next(GemvFused.preparedBytes(w.format(), k))) : null;
            // the multi-row kernel's view of x: its rows, and what the kernel reads of each (BF16: evens then odds)
            xr = new float[rows ? m : 0][];
            xrp = new float[rows ? m : 0][];
            for (int i = 0; i < xr.length; i++) {
                xr[i] = java.util.Arrays.copyOfRange(this.x, i * k, (i + 1) * k);
                xrp[i] = GemvFused.prepareRow(w.format(), xr[i], k);
            }
            // a last group of one or two rows of x takes the single-row kernel (see multiRow); measured with 8 lanes
            boolean tail = rows && (m % 4 == 1 || m % 4 == 2) && F.length() == 8
                    && (w.format() == WeightFormat.Q8_0 || w.format() == WeightFormat.BF16);
            xp1 = new GemvFused.PreparedX[tail ? m : 0];
            for (int i = m - m % 4; i < xp1.length; i++) { // the last group's rows only
                xp1[i] = GemvFused.prepare(w.format(), java.util.Arrays.copyOfRange(x, i * k, (i + 1) * k), k,
                        PREPARED.get().next(GemvFused.preparedBytes(w.format(), k)));
            }
        }

        /**
         * Several rows of x against the four weight rows at byte {@code at}, {@code stride} apart (output rows
         * {@code row0 + r * rowStep}): each weight row converted in registers once per group of four x rows.
         */
        private void multiRow(long at, long stride, int row0, int rowStep, int m, int n, Scratch s) {
            float[] out = s.out;
            for (int m0 = 0; m0 < m; m0 += 4) {
                int mm = Math.min(4, m - m0);
                if (mm <= 2 && xp1.length > 0) {
                    // one or two rows of x left: the multi-row kernel would do four rows' work (repeating the last);
                    // the single-row kernel once per row, the quad's weights read again from L1, ran faster on an AVX2
                    // Zen 3 (two threads, alternating in one JVM): Q8_0 1.28x for m = 2 and 1.38x for m = 5 on
                    // 1280 x 3072, 1.41x for m = 2 on lm_head; BF16 1.27x and 1.44x, 1.07x on lm_head. NF4, whose
                    // multi-row kernel shares its table lookups, lost (0.80x) and keeps it.
                    for (int i = 0; i < mm; i++) {
                        GemvFused.dot4(w.format(), w.data(), at, stride, xr[m0 + i], xp1[m0 + i], w.k(), out, s.acc);
                        for (int r = 0; r < ROWS; r++) {
                            int row = row0 + r * rowStep;
                            y.setAtIndex(Buf.F32, (long) (m0 + i) * n + row, bias == null ? out[r] : out[r] + bias.getAtIndex(Buf.F32, row));
                        }
                    }
                    continue;
                }
                for (int i = 0; i < 4; i++) {
                    int src = m0 + Math.min(i, mm - 1); // rows past the end repeat the last; their results are dropped
                    s.xs[i] = xr[src];
                    s.xps[i] = xrp[src];
                }
                GemvFused.rows(w.format(), w.data(), at, stride, s.xs, s.xps, w.k(), out);
                for (int i = 0; i < mm; i++) {
                    for (int r = 0; r < ROWS; r++) {
                        int row = row0 + r * rowStep;
                        float v = out[i * 4 + r];
                        y.setAtIndex(Buf.F32, (long) (m0 + i) * n + row, bias == null ? v : v + bias.getAtIndex(Buf.F32, row));
                    }
                }
            }
        }

        /** Quads {@code [lo, hi)} of this matrix. */
        void run(int lo, int hi, int m, Scratch s) {
            int n = w.n();
            int k = w.k();
            MemorySegment bs = bias;
            float[] out = s.out;
            int whole = Math.min(hi, n / ROWS); // quads wholly inside the matrix
            // (several rows of x: BF16 is compute-bound there and ran 7-15% slower far apart; Q8_0 17-28% faster,
            // NF4 at 8 lanes 1.0-1.1x)
            if ((fused || (rows && (w.format() == WeightFormat.Q8_0 || w.format() == WeightFormat.NF4))) && whole > lo) {
                // the chunk's whole quads as four streams, stream r through the r-th quarter of its rows in order;
                // each step takes one row of each (x loaded once for the four). Rows next to each other as the four
                // would start four short streams per quad (a 1280-wide row is 21-40 cache lines), which the
                // prefetchers never catch: four adjacent rows at a time streamed lm_head's Q8_0 weights at half
                // the rate of one row at a time, and four far apart 1.3x faster than that.
                int qn = whole - lo;
                long rb = w.rowBytes();
                long stride = qn * rb;
                int first = lo * ROWS;
                for (int j = 0; j < qn; j++) {
                    long at = (first + j) * rb;
                    if (fused) {
                        // one row of x: dot the stored bytes directly, a single pass over memory
                        GemvFused.dot4(w.format(), w.data(), at, stride, x, xp, k, out, s.acc);
                        for (int r = 0; r < ROWS; r++) {
                            int row = first + r * qn + j;
                            y.setAtIndex(Buf.F32, row, bs == null ? out[r] : out[r] + bs.getAtIndex(Buf.F32, row));
                        }
                        continue;
                    }
                    multiRow(at, stride, first + j, qn, m, n, s);
                }
                lo = whole;
            }
            for (int q = lo; q < hi; q++) {
                // the rest: BF16 with several rows of x, quads of the decode-to-tile formats, a matrix's last quad
                int n0 = q * ROWS;
                int nr = Math.min(ROWS, n - n0);
                if (rows && nr == ROWS) {
                    multiRow(n0 * w.rowBytes(), w.rowBytes(), n0, 1, m, n, s);
                    continue;
                }
                if (s.tile == null || s.tile.length < ROWS * k) {
                    s.tile = Gemm.buffer(1, ROWS * k);
                }
                float[] tile = s.tile;
                for (int r = 0; r < nr; r++) {
                    Dequant.decode(w, n0 + r, 0, k, tile, r * k);
                }
                for (int m0 = 0; m0 < m; m0 += 4) {
                    int mm = Math.min(4, m - m0);
                    if (mm == 1) {
                        dot1x4(x, m0 * k, tile, k, out);
                    } else {
                        // rows past the end repeat the last row; their results are dropped
                        dot4x4(x, m0 * k, (m0 + Math.min(1, mm - 1)) * k, (m0 + Math.min(2, mm - 1)) * k,
                                (m0 + Math.min(3, mm - 1)) * k, tile, k, out);
                    }
                    for (int i = 0; i < mm; i++) {
                        for (int r = 0; r < nr; r++) {
                            float v = out[i * 4 + r];
                            if (bs != null) {
                                v += bs.getAtIndex(Buf.F32, n0 + r);
                            }
                            y.setAtIndex(Buf.F32, (long) (m0 + i) * n + n0 + r, v);
                        }
                    }
                }
            }
        }
    }

    /** {@code out[r] = x[xo..xo+k) · tile row r} for the four tile rows. */
    private static void dot1x4(float[] x, int xo, float[] t, int k, float[] out) {
        FloatVector a0 = FloatVector.zero(F), a1 = FloatVector.zero(F), a2 = FloatVector.zero(F), a3 = FloatVector.zero(F);
        int i = 0;
        for (int bound = F.loopBound(k); i < bound; i += F.length()) {
            FloatVector xv = FloatVector.fromArray(F, x, xo + i);
            a0 = xv.fma(FloatVector.fromArray(F, t, i), a0);
            a1 = xv.fma(FloatVector.fromArray(F, t, k + i), a1);
            a2 = xv.fma(FloatVector.fromArray(F, t, 2 * k + i), a2);
            a3 = xv.fma(FloatVector.fromArray(F, t, 3 * k + i), a3);
        }
        float s0 = a0.reduceLanes(VectorOperators.ADD), s1 = a1.reduceLanes(VectorOperators.ADD);
        float s2 = a2.reduceLanes(VectorOperators.ADD), s3 = a3.reduceLanes(VectorOperators.ADD);
        for (; i < k; i++) {
            float xv = x[xo + i];
            s0 += xv * t[i];
            s1 += xv * t[k + i];
            s2 += xv * t[2 * k + i];
            s3 += xv * t[3 * k + i];
        }
        out[0] = s0;
        out[1] = s1;
        out[2] = s2;
        out[3] = s3;
    }

    /** {@code out[i * 4 + r] = x row i · tile row r} for four x rows (offsets o0..o3) and four tile rows. */
    private static void dot4x4(float[] x, int o0, int o1, int o2, int o3, float[] t, int k, float[] out) {
        FloatVector c00 = FloatVector.zero(F), c01 = FloatVector.zero(F), c02 = FloatVector.zero(F), c03 = FloatVector.zero(F);
        FloatVector c10 = FloatVector.zero(F), c11 = FloatVector.zero(F), c12 = FloatVector.zero(F), c13 = FloatVector.zero(F);
        FloatVector c20 = FloatVector.zero(F), c21 = FloatVector.zero(F), c22 = FloatVector.zero(F), c23 = FloatVector.zero(F);
        FloatVector c30 = FloatVector.zero(F), c31 = FloatVector.zero(F), c32 = FloatVector.zero(F), c33 = FloatVector.zero(F);
        int i = 0;
        for (int bound = F.loopBound(k); i < bound; i += F.length()) {
            FloatVector w0 = FloatVector.fromArray(F, t, i);
            FloatVector w1 = FloatVector.fromArray(F, t, k + i);
            FloatVector w2 = FloatVector.fromArray(F, t, 2 * k + i);
            FloatVector w3 = FloatVector.fromArray(F, t, 3 * k + i);
            FloatVector x0 = FloatVector.fromArray(F, x, o0 + i);
            c00 = x0.fma(w0, c00);
            c01 = x0.fma(w1, c01);
            c02 = x0.fma(w2, c02);
            c03 = x0.fma(w3, c03);
            FloatVector x1 = FloatVector.fromArray(F, x, o1 + i);
            c10 = x1.fma(w0, c10);
            c11 = x1.fma(w1, c11);
            c12 = x1.fma(w2, c12);
            c13 = x1.fma(w3, c13);
            FloatVector x2 = FloatVector.fromArray(F, x, o2 + i);
            c20 = x2.fma(w0, c20);
            c21 = x2.fma(w1, c21);
            c22 = x2.fma(w2, c22);
            c23 = x2.fma(w3, c23);
            FloatVector x3 = FloatVector.fromArray(F, x, o3 + i);
            c30 = x3.fma(w0, c30);
            c31 = x3.fma(w1, c31);
            c32 = x3.fma(w2, c32);
            c33 = x3.fma(w3, c33);
        }
        out[0] = c00.reduceLanes(VectorOperators.ADD);
        out[1] = c01.reduceLanes(VectorOperators.ADD);
        out[2] = c02.reduceLanes(VectorOperators.ADD);
        out[3] = c03.reduceLanes(VectorOperators.ADD);
        out[4] = c10.reduceLanes(VectorOperators.ADD);
        out[5] = c11.reduceLanes(VectorOperators.ADD);
        out[6] = c12.reduceLanes(VectorOperators.ADD);
        out[7] = c13.reduceLanes(VectorOperators.ADD);
        out[8] = c20.reduceLanes(VectorOperators.ADD);
        out[9] = c21.reduceLanes(VectorOperators.ADD);
        out[10] = c22.reduceLanes(VectorOperators.ADD);
        out[11] = c23.reduceLanes(VectorOperators.ADD);
        out[12] = c30.reduceLanes(VectorOperators.ADD);
        out[13] = c31.reduceLanes(VectorOperators.ADD);
        out[14] = c32.reduceLanes(VectorOperators.ADD);
        out[15] = c33.reduceLanes(VectorOperators.ADD);
        int[] offs = {o0, o1, o2, o3};
        for (; i < k; i++) {
            for (int a = 0; a < 4; a++) {
                float xv = x[offs[a] + i];
                for (int r = 0; r < 4; r++) {
                    out[a * 4 + r] += xv * t[r * k + i];
                }
            }
        }
    }
}
