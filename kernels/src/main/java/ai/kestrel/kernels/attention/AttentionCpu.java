package ai.kestrel.kernels.attention;

import ai.kestrel.kernels.Vec;
import static ai.kestrel.kernels.Vec.F;

import ai.kestrel.kernels.Buf;
import ai.kestrel.kernels.Parallel;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShuffle;

/**
 * Vector API {@link Attention} with a streaming softmax (FlashAttention's online rescaling), one query row per
 * task: keys are visited in blocks of {@value #BLOCK}; each block's scores raise the running maximum, the
 * running sum and output accumulator are rescaled to it, and the block's values are added in. No T x T matrix
 * exists at any point; K and V are read where they lie (a cache of any capacity).
 *
 * <p>Backward (FlashAttention-2's split): probabilities are recomputed from the saved log-sum-exp. Pass 1
 * gives {@code dq} row by row; pass 2 gives {@code dk}, {@code dv} key row by key row, summing over the query
 * heads that share the key head, so no two threads write the same row.
 *
 * <p>That is the row path, kept for head widths that are not a multiple of the vector length. Prompts take the
 * blocked paths ({@link #forwardBlocked}, {@link #backwardBlocked}): the same algorithm, four rows per task
 * against blocks of {@link #KEY_BLOCK} keys (or queries) laid out by {@link #pack}, so scores need no reduction
 * per key. Fewer than four query rows (decoding) take {@link #decodeGroup}: the query heads that share a KV head
 * together, three passes over their scores.
 */
final class AttentionCpu implements Attention {
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    static final int BLOCK = 64;

    /** {@code a · b[bo..bo+p)}: two vector accumulators (two independent FMA chains), then the tail lane by lane. */
    private static float dot(float[] a, MemorySegment b, long bo, int p) {
        int l = F.length();
        FloatVector a0 = FloatVector.zero(F), a1 = FloatVector.zero(F);
        int c = 0;
        for (; c + 2 * l <= p; c += 2 * l) {
            a0 = FloatVector.fromArray(F, a, c).fma(FloatVector.fromMemorySegment(F, b, bo + c * 4L, LE), a0);
            a1 = FloatVector.fromArray(F, a, c + l).fma(FloatVector.fromMemorySegment(F, b, bo + (c + l) * 4L, LE), a1);
        }
        if (c + l <= p) {
            a0 = FloatVector.fromArray(F, a, c).fma(FloatVector.fromMemorySegment(F, b, bo + c * 4L, LE), a0);
            c += l;
        }
        float s = Vec.sum(a0.add(a1));
        for (; c < p; c++) {
            s += a[c] * b.get(Buf.F32, bo + c * 4L);
        }
        return s;
    }

    /** {@code acc += w * src[bo..bo+p)}. */
    private static void axpy(float w, MemorySegment src, long bo, float[] acc, int p) {
        int c = 0;
        FloatVector wv = FloatVector.broadcast(F, w);
        for (int bound = F.loopBound(p); c < bound; c += F.length()) {
            FloatVector.fromMemorySegment(F, src, bo + c * 4L, LE).fma(wv, FloatVector.fromArray(F, acc, c)).intoArray(acc, c);
        }
        for (; c < p; c++) {
            acc[c] += w * src.get(Buf.F32, bo + c * 4L);
        }
    }

    private static void scale(float[] a, float s, int p) {
        int c = 0;
        for (int bound = F.loopBound(p); c < bound; c += F.length()) {
            FloatVector.fromArray(F, a, c).mul(s).intoArray(a, c);
        }
        for (; c < p; c++) {
            a[c] *= s;
        }
    }

    @Override
    public void forward(Buf qb, Buf kb, Buf vb, Buf ob, Buf lseb, Dims m, double scaleD) {
        int p = m.p();
        if (kb.isF16() || vb.isF16()) {
            forwardHalf(qb, kb, vb, ob, lseb, m, (float) scaleD);
            return;
        }
        MemorySegment q = qb.requireF32("q", (long) m.b() * m.tq() * m.h() * p).seg();
        MemorySegment k = kb.requireF32("k", (long) m.b() * m.cap() * m.kv() * p).seg();
        MemorySegment v = vb.requireF32("v", (long) m.b() * m.cap() * m.kv() * p).seg();
        MemorySegment o = ob.requireF32("o", (long) m.b() * m.tq() * m.h() * p).seg();
        MemorySegment lse = lseb == null ? null : lseb.requireF32("lse", (long) m.b() * m.h() * m.tq()).seg();
        float sc = (float) scaleD;
        if (m.tq() >= QROWS && p % F.length() == 0) {
            forwardBlocked(q, k, v, o, lse, m, sc);
            return;
        }
        if (p % F.length() == 0 && m.tk() >= TILED_MIN) {
            // tiles of keys in parallel, each read as one stream: 1.3-1.4x at 32K keys (a cache from DRAM), ~1.05-1.10x
            // a 1.5B-Deep decode step at 1K (alternating in one JVM, Zen 3, 2026-12-02)
            decodeTiles(q, k, v, o, lse, m, sc, false);
            return;
        }
        int rows = m.b() * m.h() * m.tq();
        // a row reads up to tk keys and values of p floats: rows over short caches (decoding at the start of a
        // sequence) are too little work to hand to another thread one by one
        int grain = (int) Math.max(1, (64L << 10) / ((long) m.tk() * p));
        if (p % F.length() == 0) {
            // a task per (batch, KV head, query row): the query heads sharing a KV head read each key and value
            // row from memory once, while it is in L1
            int group = m.h() / m.kv();
            Parallel.range(m.b() * m.kv() * m.tq(), Math.max(1, grain / group), (lo, hi) -> {
                float[][] qr = new float[group][p];
                float[][] acc = new float[group][p];
                float[][] scores = new float[group][padded(m.tk())];
                float[] lseRows = new float[group];
                float[] fold = new float[96];
                for (int task = lo; task < hi; task++) {
                    int i = task % m.tq();
                    int g = (task / m.tq()) % m.kv();
                    int bb = task / (m.tq() * m.kv());
                    for (int r = 0; r < group; r++) {
                        MemorySegment.copy(q, Buf.F32, m.qOff(bb, i, g * group + r) * 4, qr[r], 0, p);
                    }
                    decodeGroup(qr, k, v, m, bb, g, m.lastKey(i), sc, scores, acc, lseRows, fold);
                    for (int r = 0; r < group; r++) {
                        int hh = g * group + r;
                        MemorySegment.copy(acc[r], 0, o, Buf.F32, m.qOff(bb, i, hh) * 4, p);
                        if (lse != null) {
                            lse.setAtIndex(Buf.F32, ((long) bb * m.h() + hh) * m.tq() + i, lseRows[r]);
                        }
                    }
                }
            });
            return;
        }
        Parallel.range(rows, grain, (lo, hi) -> {
            float[] qr = new float[p];
            float[] acc = new float[p];
            float[] s = new float[BLOCK];
            for (int row = lo; row < hi; row++) {
                int i = row % m.tq();
                int hh = (row / m.tq()) % m.h();
                int bb = row / (m.tq() * m.h());
                int g = m.kvHead(hh);
                long qo = m.qOff(bb, i, hh) * 4;
                MemorySegment.copy(q, Buf.F32, qo, qr, 0, p);
                java.util.Arrays.fill(acc, 0f);
                float max = Float.NEGATIVE_INFINITY;
                float sum = 0;
                int last = m.lastKey(i);
                for (int j0 = 0; j0 <= last; j0 += BLOCK) {
                    int n = Math.min(BLOCK, last + 1 - j0);
                    float bmax = Float.NEGATIVE_INFINITY;
                    for (int j = 0; j < n; j++) {
                        s[j] = sc * dot(qr, k, m.kOff(bb, j0 + j, g) * 4, p);
                        bmax = Math.max(bmax, s[j]);
                    }
                    // 1. raise the running max and rescale what was accumulated under the old one
                    float nmax = Math.max(max, bmax);
                    float corr = (float) Math.exp(max - nmax);
                    if (corr != 1f) {
                        sum *= corr;
                        scale(acc, corr, p);
                    }
                    // 2. add this block's weights and values
                    for (int j = 0; j < n; j++) {
                        float e = (float) Math.exp(s[j] - nmax);
                        sum += e;
                        axpy(e, v, m.kOff(bb, j0 + j, g) * 4, acc, p);
                    }
                    max = nmax;
                }
                scale(acc, 1f / sum, p);
                MemorySegment.copy(acc, 0, o, Buf.F32, qo, p);
                if (lse != null) {
                    lse.setAtIndex(Buf.F32, ((long) bb * m.h() + hh) * m.tq() + i, max + (float) Math.log(sum));
                }
            }
        });
    }

    /** Keys per tile of {@link #decodeTiles}: a tile's keys and values, every KV head's, as floats take 256 KB at 2 x 128 (L2). */
    static final int KEY_TILE = 128;
    /**
     * Float32 decoding rows over at least this many keys split them by tiles ({@link #decodeTiles}); shorter ones run a
     * task per KV head over all their keys, which keeps both threads busy where a tile or two would not.
     */
    static final int TILED_MIN = 2 * KEY_TILE;
    /** Each thread's widened key and value tiles (kept: a new 256 KB pair per task cost more than the attention). */
    private static final ThreadLocal<HalfScratch> HALF_SCRATCH = ThreadLocal.withInitial(HalfScratch::new);

    /** Widened tiles: arrays the conversion writes, native copies the kernels read. */
    private static final class HalfScratch {
        float[] k = new float[0];
        float[] v = new float[0];
        MemorySegment kn;
        MemorySegment vn;

        void ensure(int n) {
            if (k.length < n) {
                k = new float[n];
                v = new float[n];
                java.lang.foreign.Arena a = java.lang.foreign.Arena.ofAuto(); // freed with this thread's scratch
                kn = a.allocate(4L * n, 64);
                vn = a.allocate(4L * n, 64);
            }
        }
    }

    /**
     * {@link #forward} over binary16 keys and values (a half-precision KV cache). Prompt chunks ({@code tq >=}
     * {@link #QROWS}, compute-bound) and head widths the vector kernels do not take widen the keys and values in use
     * to float32 once and run the float32 path. Decoding rows read each key and value once, from memory, in half the
     * bytes: tiles of {@link #KEY_TILE} keys are widened (all KV heads' rows, one contiguous run: C2's vector
     * conversions pay off on long runs, 0.09 ns per value against 0.2-0.3 in runs of one head's 128) into arrays that
     * stay in cache, {@link #decodeGroup} runs on each tile for every KV head, tiles in parallel, and the tiles'
     * normalised outputs are merged by their log-sum-exps.
     */
    private void forwardHalf(Buf qb, Buf kb, Buf vb, Buf ob, Buf lseb, Dims m, float sc) {
        int p = m.p();
        long kvLen = (long) m.b() * m.cap() * m.kv() * p;
        MemorySegment k = requireF16(kb, "k", kvLen);
        MemorySegment v = requireF16(vb, "v", kvLen);
        if (m.tq() >= QROWS || p % F.length() != 0) {
            try (java.lang.foreign.Arena tmp = java.lang.foreign.Arena.ofShared()) { // the float32 path runs on the pool
                long rows = (long) m.tk() * m.kv() * p; // the rows in use of one batch row, contiguous
                Buf k32 = Buf.allocF32(tmp, m.b() * rows);
                Buf v32 = Buf.allocF32(tmp, m.b() * rows);
                for (int bb = 0; bb < m.b(); bb++) {
                    long from = m.kOff(bb, 0, 0);
                    ai.kestrel.kernels.Half.widen(k, from, k32.seg(), bb * rows, rows);
                    ai.kestrel.kernels.Half.widen(v, from, v32.seg(), bb * rows, rows);
                }
                forward(qb, k32, v32, ob, lseb, new Dims(m.b(), m.tq(), m.tk(), m.tk(), m.h(), m.kv(), p), sc);
            }
            return;
        }
        MemorySegment q = qb.requireF32("q", (long) m.b() * m.tq() * m.h() * p).seg();
        MemorySegment o = ob.requireF32("o", (long) m.b() * m.tq() * m.h() * p).seg();
        MemorySegment lse = lseb == null ? null : lseb.requireF32("lse", (long) m.b() * m.h() * m.tq()).seg();
        decodeTiles(q, k, v, o, lse, m, sc, true);
    }

    /**
     * Decoding rows ({@code tq <} {@link #QROWS}, head width a multiple of the vector length) over keys and values in
     * float32 or ({@code half}) binary16, split by tiles of {@link #KEY_TILE} keys: a task per (batch, query row,
     * tile), run in parallel, each reading its tile's rows for every KV head (contiguous in the cache: one sequential
     * stream) and running {@link #decodeGroup} on them for each KV head; binary16 tiles are widened first into
     * arrays that stay in cache. The tiles' normalised outputs are merged by their log-sum-exps.
     */
    private static void decodeTiles(MemorySegment q, MemorySegment k, MemorySegment v, MemorySegment o, MemorySegment lse, Dims m,
            float sc, boolean half) {
        int p = m.p();
        int group = m.h() / m.kv();
        int tiles = (m.tk() + KEY_TILE - 1) / KEY_TILE;
        int rows = m.b() * m.tq();
        // a task per (batch, query row, tile of keys): the tile's rows, every KV head's, are contiguous in the cache and
        // widen in one run; each KV head's query heads then run over them (decodeGroup); the tiles' outputs merge after
        float[][][] acc = new float[rows * tiles][][];
        float[][] lseOf = new float[rows * tiles][];
        Parallel.range(rows * tiles, 1, (lo, hi) -> {
            float[][] scores = new float[group][padded(KEY_TILE)];
            float[][] qr = new float[group][p];
            float[][] out = new float[group][];
            float[] lseRows = new float[group];
            float[] fold = new float[96];
            int width = m.kv() * p;
            float[] kt = null;
            float[] vt = null;
            MemorySegment kn = null;
            MemorySegment vn = null;
            if (half) {
                HalfScratch h = HALF_SCRATCH.get();
                h.ensure(KEY_TILE * width);
                kt = h.k;
                vt = h.v;
                kn = h.kn;
                vn = h.vn;
            }
            for (int task = lo; task < hi; task++) {
                int row = task / tiles;
                int i = row % m.tq();
                int bb = row / m.tq();
                int j0 = (task % tiles) * KEY_TILE;
                int n = Math.min(KEY_TILE, m.lastKey(i) + 1 - j0);
                if (n <= 0) {
                    continue; // past this row's last key
                }
                MemorySegment ks;
                MemorySegment vs;
                if (half) {
                    // widened into arrays (C2 vectorises the conversion there, not between two segments), then copied
                    // to native memory: in profiles of the model the score kernel took about twice as long on heap segments
                    ai.kestrel.kernels.Half.widen(k, m.kOff(bb, j0, 0), kt, 0, n * width);
                    ai.kestrel.kernels.Half.widen(v, m.kOff(bb, j0, 0), vt, 0, n * width);
                    MemorySegment.copy(kt, 0, kn, Buf.F32, 0, n * width);
                    MemorySegment.copy(vt, 0, vn, Buf.F32, 0, n * width);
                    ks = kn;
                    vs = vn;
                } else {
                    ks = k.asSlice(m.kOff(bb, j0, 0) * 4, (long) n * width * 4);
                    vs = v.asSlice(m.kOff(bb, j0, 0) * 4, (long) n * width * 4);
                }
                Dims tile = new Dims(1, 1, n, n, m.h(), m.kv(), p);
                float[][] a = new float[m.h()][p];
                float[] l = new float[m.h()];
                for (int g = 0; g < m.kv(); g++) {
                    for (int r = 0; r < group; r++) {
                        MemorySegment.copy(q, Buf.F32, m.qOff(bb, i, g * group + r) * 4, qr[r], 0, p);
                        out[r] = a[g * group + r];
                    }
                    decodeGroup(qr, ks, vs, tile, 0, g, n - 1, sc, scores, out, lseRows, fold);
                    System.arraycopy(lseRows, 0, l, g * group, group);
                }
                acc[task] = a;
                lseOf[task] = l;
            }
        });
        for (int row = 0; row < rows; row++) {
            int i = row % m.tq();
            int bb = row / m.tq();
            float[][] a = acc[row * tiles];
            float[] l = lseOf[row * tiles];
            for (int c = 1; c < tiles && acc[row * tiles + c] != null; c++) {
                mergeSoftmax(a, l, acc[row * tiles + c], lseOf[row * tiles + c]);
            }
            for (int hh = 0; hh < m.h(); hh++) {
                MemorySegment.copy(a[hh], 0, o, Buf.F32, m.qOff(bb, i, hh) * 4, p);
                if (lse != null) {
                    lse.setAtIndex(Buf.F32, ((long) bb * m.h() + hh) * m.tq() + i, l[hh]);
                }
            }
        }
    }

    private static MemorySegment requireF16(Buf b, String what, long n) {
        if (!b.isF16()) {
            throw new IllegalArgumentException(what + ": keys and values must both be float16 or both float32");
        }
        return b.require(what, n).seg();
    }

    /**
     * Softmax outputs over two disjoint sets of keys, each normalised, combined into the output over both:
     * {@code acc[r]} (log-sum-exp {@code lse[r]}) becomes the mix of itself and {@code part[r]} weighted by
     * {@code exp(lse)} of each, and {@code lse[r]} the log-sum-exp of the union.
     */
    static void mergeSoftmax(float[][] acc, float[] lse, float[][] part, float[] lsePart) {
        for (int r = 0; r < acc.length; r++) {
            float mx = Math.max(lse[r], lsePart[r]);
            float a = (float) Math.exp(lse[r] - mx);
            float b = (float) Math.exp(lsePart[r] - mx);
            float total = a + b;
            float wa = a / total;
            float wb = b / total;
            float[] x = acc[r];
            float[] y = part[r];
            for (int c = 0; c < x.length; c++) {
                x[c] = x[c] * wa + y[c] * wb;
            }
            lse[r] = mx + (float) Math.log(total);
        }
    }

    /**
     * One query row of each head that shares KV head {@code g} ({@code qr[r]}) against keys {@code 0..last}, head
     * width a multiple of the vector length. Three passes instead of the online softmax, since a row's scores fit
     * in {@code scores[r]}: all scores and their max (with 16-lane vectors 16 keys and three heads at a time,
     * {@link #scores16x3}, through the 96-float scratch {@code fold}; with 8 lanes 8 keys of one head,
     * {@link #scores8}); the exponentials, a vector at a time; then the values (head width a multiple of 64:
     * {@link #values3x64}, 64 columns of three heads over all the keys, or with 8 lanes {@link #values2x32} and
     * {@link #values1x64}; else four keys per pass, {@link #valuesOf4}). Leaves the output rows in {@code acc} and
     * their log-sum-exp in {@code lse}.
     */
    private static void decodeGroup(float[][] qr, MemorySegment k, MemorySegment v, Dims m, int bb, int g, int last, float sc,
            float[][] scores, float[][] acc, float[] lse, float[] fold) {
        int group = qr.length;
        int p = qr[0].length;
        int n = last + 1;
        long stride = (m.kOff(bb, 1, g) - m.kOff(bb, 0, g)) * 4; // bytes from one key (and value) row to the next
        int j0 = 0;
        if (F.length() == 16) {
            for (; j0 + 16 <= n; j0 += 16) {
                long base = m.kOff(bb, j0, g) * 4;
                for (int r0 = 0; r0 < group; r0 += 3) {
                    scores16x3(qr, r0, k, base, stride, p, sc, scores, j0, fold);
                }
            }
        } else if (F.length() == 8) {
            for (; j0 + 8 <= n; j0 += 8) {
                long base = m.kOff(bb, j0, g) * 4;
                for (int r = 0; r < group; r++) {
                    scores8(qr[r], k, base, stride, p, sc, scores[r], j0);
                }
            }
        }
        for (int j = j0; j < n; j++) {
            long ko = m.kOff(bb, j, g) * 4;
            for (int r = 0; r < group; r++) {
                scores[r][j] = sc * dot(qr[r], k, ko, p);
            }
        }
        int padded = padded(n);
        for (int r = 0; r < group; r++) {
            float[] s = scores[r];
            float max = Float.NEGATIVE_INFINITY;
            for (int j = 0; j < n; j++) {
                max = Math.max(max, s[j]);
            }
            java.util.Arrays.fill(s, n, padded, Float.NEGATIVE_INFINITY);
            float total = expShifted(s, padded, max);
            lse[r] = max + (float) Math.log(total);
            total = 1f / total;
            for (int j = 0; j < n; j++) {
                s[j] *= total; // normalised weights: the value pass needs no final scaling
            }
        }
        if (F.length() == 16 && p % 64 == 0) {
            // every column of every head written: no clearing first
            long first = m.kOff(bb, 0, g) * 4;
            for (int r0 = 0; r0 < group; r0 += 3) {
                for (int c = 0; c < p; c += 64) {
                    values3x64(scores, r0, v, first + c * 4L, stride, n, acc, c);
                }
            }
            return;
        }
        if (F.length() == 8 && p % 64 == 0) {
            long first = m.kOff(bb, 0, g) * 4;
            int r0 = 0;
            for (; r0 + 2 <= group; r0 += 2) {
                for (int c = 0; c < p; c += 32) {
                    values2x32(scores[r0], scores[r0 + 1], v, first + c * 4L, stride, n, acc[r0], acc[r0 + 1], c);
                }
            }
            if (r0 < group) {
                for (int c = 0; c < p; c += 64) {
                    values1x64(scores[r0], v, first + c * 4L, stride, n, acc[r0], c);
                }
            }
            return;
        }
        for (float[] a : acc) {
            java.util.Arrays.fill(a, 0f);
        }
        int j = 0;
        for (; j + 4 <= n; j += 4) {
            long o0 = m.kOff(bb, j, g) * 4, o1 = m.kOff(bb, j + 1, g) * 4, o2 = m.kOff(bb, j + 2, g) * 4, o3 = m.kOff(bb, j + 3, g) * 4;
            valuesOf4(scores, j, v, o0, o1, o2, o3, acc, p);
        }
        for (; j < n; j++) {
            for (int r = 0; r < group; r++) {
                axpy(scores[r][j], v, m.kOff(bb, j, g) * 4, acc[r], p);
            }
        }
    }

    /**
     * {@code acc[r][c, c + 64) = sum over keys j < n of w_r[j] * V_j[c, c + 64)} for heads {@code r0, r0 + 1, r0 + 2}
     * of the group (those past its end computed on the last head's weights and dropped), value rows {@code stride}
     * bytes apart from byte {@code at}: twelve accumulators stay in registers over all the keys, each value vector is
     * loaded once for the three heads, and the loads walk one row after another.
     */
    private static void values3x64(float[][] w, int r0, MemorySegment v, long at, long stride, int n, float[][] acc, int c) {
        int last = w.length - 1;
        float[] w0 = w[r0];
        float[] w1 = w[Math.min(r0 + 1, last)];
        float[] w2 = w[Math.min(r0 + 2, last)];
        FloatVector a0 = FloatVector.zero(F), a1 = FloatVector.zero(F), a2 = FloatVector.zero(F), a3 = FloatVector.zero(F);
        FloatVector b0 = FloatVector.zero(F), b1 = FloatVector.zero(F), b2 = FloatVector.zero(F), b3 = FloatVector.zero(F);
        FloatVector d0 = FloatVector.zero(F), d1 = FloatVector.zero(F), d2 = FloatVector.zero(F), d3 = FloatVector.zero(F);
        for (int j = 0; j < n; j++) {
            long o = at + j * stride;
            FloatVector v0 = FloatVector.fromMemorySegment(F, v, o, LE);
            FloatVector v1 = FloatVector.fromMemorySegment(F, v, o + 64, LE);
            FloatVector v2 = FloatVector.fromMemorySegment(F, v, o + 128, LE);
            FloatVector v3 = FloatVector.fromMemorySegment(F, v, o + 192, LE);
            FloatVector x = FloatVector.broadcast(F, w0[j]);
            a0 = v0.fma(x, a0);
            a1 = v1.fma(x, a1);
            a2 = v2.fma(x, a2);
            a3 = v3.fma(x, a3);
            x = FloatVector.broadcast(F, w1[j]);
            b0 = v0.fma(x, b0);
            b1 = v1.fma(x, b1);
            b2 = v2.fma(x, b2);
            b3 = v3.fma(x, b3);
            x = FloatVector.broadcast(F, w2[j]);
            d0 = v0.fma(x, d0);
            d1 = v1.fma(x, d1);
            d2 = v2.fma(x, d2);
            d3 = v3.fma(x, d3);
        }
        a0.intoArray(acc[r0], c);
        a1.intoArray(acc[r0], c + 16);
        a2.intoArray(acc[r0], c + 32);
        a3.intoArray(acc[r0], c + 48);
        if (r0 + 1 <= last) {
            b0.intoArray(acc[r0 + 1], c);
            b1.intoArray(acc[r0 + 1], c + 16);
            b2.intoArray(acc[r0 + 1], c + 32);
            b3.intoArray(acc[r0 + 1], c + 48);
        }
        if (r0 + 2 <= last) {
            d0.intoArray(acc[r0 + 2], c);
            d1.intoArray(acc[r0 + 2], c + 16);
            d2.intoArray(acc[r0 + 2], c + 32);
            d3.intoArray(acc[r0 + 2], c + 48);
        }
    }

    /** Lanes 8-15, and lanes whose index has bit 2, 1 or 0 set: which of two folded vectors a lane comes from. */
    private static final VectorMask<Float> HI8 = F.length() == 16 ? VectorMask.fromLong(F, 0xFF00L) : null;
    private static final VectorMask<Float> BIT4 = F.length() == 16 ? VectorMask.fromLong(F, 0xF0F0L) : null;
    private static final VectorMask<Float> BIT2 = F.length() == 16 ? VectorMask.fromLong(F, 0xCCCCL) : null;
    private static final VectorMask<Float> BIT1 = F.length() == 16 ? VectorMask.fromLong(F, 0xAAAAL) : null;
    /** Lane i takes lane i ^ 8, i ^ 4, i ^ 2, i ^ 1. */
    private static final VectorShuffle<Float> X8 = F.length() == 16 ? VectorShuffle.fromOp(F, i -> i ^ 8) : null;
    private static final VectorShuffle<Float> X4 = F.length() == 16 ? VectorShuffle.fromOp(F, i -> i ^ 4) : null;
    private static final VectorShuffle<Float> X2 = F.length() == 16 ? VectorShuffle.fromOp(F, i -> i ^ 2) : null;
    private static final VectorShuffle<Float> X1 = F.length() == 16 ? VectorShuffle.fromOp(F, i -> i ^ 1) : null;
    /** Lane i takes lane reverse4(i): the folds leave key i's sum in lane reverse4(i). */
    private static final VectorShuffle<Float> REV4 = F.length() == 16
            ? VectorShuffle.fromOp(F, i -> Integer.reverse(i) >>> 28) : null;

    /**
     * {@code out[r][j0 + i] = sc · q_r · key row i} for 16 key rows {@code stride} bytes apart from byte {@code base}
     * and heads {@code r = r0, r0 + 1, r0 + 2} of the group (those past its end computed on the last head and
     * dropped); 16-lane vectors, {@code p} a multiple of 16. Keys 0-7 and 8-15 each by {@link #scores8x3} into
     * {@code fold} (48 floats each), then each head's two vectors folded into the lanes of all 16 keys: 15 folds per
     * head instead of 16 horizontal sums of four shuffles and four adds each. It replaced a kernel of 16 keys for one
     * head at a time, whose C2 code reloaded the 16 row offsets from the stack for every load:
     * {@code AttentionBench.decode} (2 threads, alternating runs) with {@link #values3x64}: cache 512 37.6 / 39.6 ->
     * 19.8 / 19.7 us, 2048 149 / 154 -> 108 / 74 us; the value kernel alone gave 25.4 / 35.6 -> 19.9 / 28.8 and
     * 111 / 144 -> 82 / 111 us.
     */
    private static void scores16x3(float[][] qr, int r0, MemorySegment k, long base, long stride, int p, float sc,
            float[][] out, int j0, float[] fold) {
        int last = qr.length - 1;
        float[] q0 = qr[r0];
        float[] q1 = qr[Math.min(r0 + 1, last)];
        float[] q2 = qr[Math.min(r0 + 2, last)];
        scores8x3(q0, q1, q2, k, base, stride, p, fold, 0);
        scores8x3(q0, q1, q2, k, base + 8 * stride, stride, p, fold, 48);
        for (int r = 0; r < 3 && r0 + r <= last; r++) {
            FloatVector e0 = FloatVector.fromArray(F, fold, 16 * r);
            FloatVector e1 = FloatVector.fromArray(F, fold, 48 + 16 * r);
            FloatVector f = e0.blend(e1, BIT1).add(e1.blend(e0, BIT1).rearrange(X1));
            // lane l now holds key reverse4(l)'s sum (bit 3 of l chose the odd key of a pair, bit 2 the odd pair,
            // bit 1 the odd group of four, bit 0 the second eight)
            f.rearrange(REV4).mul(sc).intoArray(out[r0 + r], j0);
        }
    }

    /**
     * Eight key rows {@code stride} bytes apart from byte {@code o0} against three query rows: each key vector is
     * loaded once for the three heads (24 accumulators, one per key and head, so the FMAs form 24 independent
     * chains); each head's eight sums are then folded three times (a blend, its mirror permuted, an add) into one
     * vector, stored at {@code fold[at + 16 r]} for head {@code r}. Written out like the matmul kernels, and no
     * vector crosses its boundary: a vector passed to or returned from a method C2 leaves out of line is boxed (see
     * {@code GemvFused}).
     */
    private static void scores8x3(float[] q0, float[] q1, float[] q2, MemorySegment k, long o0, long stride, int p,
            float[] fold, int at) {
        FloatVector a0 = FloatVector.zero(F), a1 = FloatVector.zero(F), a2 = FloatVector.zero(F), a3 = FloatVector.zero(F);
        FloatVector a4 = FloatVector.zero(F), a5 = FloatVector.zero(F), a6 = FloatVector.zero(F), a7 = FloatVector.zero(F);
        FloatVector b0 = FloatVector.zero(F), b1 = FloatVector.zero(F), b2 = FloatVector.zero(F), b3 = FloatVector.zero(F);
        FloatVector b4 = FloatVector.zero(F), b5 = FloatVector.zero(F), b6 = FloatVector.zero(F), b7 = FloatVector.zero(F);
        FloatVector d0 = FloatVector.zero(F), d1 = FloatVector.zero(F), d2 = FloatVector.zero(F), d3 = FloatVector.zero(F);
        FloatVector d4 = FloatVector.zero(F), d5 = FloatVector.zero(F), d6 = FloatVector.zero(F), d7 = FloatVector.zero(F);
        for (int c = 0; c < p; c += 16) {
            FloatVector qa = FloatVector.fromArray(F, q0, c);
            FloatVector qb = FloatVector.fromArray(F, q1, c);
            FloatVector qd = FloatVector.fromArray(F, q2, c);
            long o = o0 + c * 4L;
            FloatVector k0 = FloatVector.fromMemorySegment(F, k, o, LE);
            a0 = k0.fma(qa, a0);
            b0 = k0.fma(qb, b0);
            d0 = k0.fma(qd, d0);
            FloatVector k1 = FloatVector.fromMemorySegment(F, k, o + stride, LE);
            a1 = k1.fma(qa, a1);
            b1 = k1.fma(qb, b1);
            d1 = k1.fma(qd, d1);
            FloatVector k2 = FloatVector.fromMemorySegment(F, k, o + 2 * stride, LE);
            a2 = k2.fma(qa, a2);
            b2 = k2.fma(qb, b2);
            d2 = k2.fma(qd, d2);
            FloatVector k3 = FloatVector.fromMemorySegment(F, k, o + 3 * stride, LE);
            a3 = k3.fma(qa, a3);
            b3 = k3.fma(qb, b3);
            d3 = k3.fma(qd, d3);
            FloatVector k4 = FloatVector.fromMemorySegment(F, k, o + 4 * stride, LE);
            a4 = k4.fma(qa, a4);
            b4 = k4.fma(qb, b4);
            d4 = k4.fma(qd, d4);
            FloatVector k5 = FloatVector.fromMemorySegment(F, k, o + 5 * stride, LE);
            a5 = k5.fma(qa, a5);
            b5 = k5.fma(qb, b5);
            d5 = k5.fma(qd, d5);
            FloatVector k6 = FloatVector.fromMemorySegment(F, k, o + 6 * stride, LE);
            a6 = k6.fma(qa, a6);
            b6 = k6.fma(qb, b6);
            d6 = k6.fma(qd, d6);
            FloatVector k7 = FloatVector.fromMemorySegment(F, k, o + 7 * stride, LE);
            a7 = k7.fma(qa, a7);
            b7 = k7.fma(qb, b7);
            d7 = k7.fma(qd, d7);
        }
        FloatVector ac0 = a0.blend(a1, HI8).add(a1.blend(a0, HI8).rearrange(X8));
        FloatVector ac1 = a2.blend(a3, HI8).add(a3.blend(a2, HI8).rearrange(X8));
        FloatVector ac2 = a4.blend(a5, HI8).add(a5.blend(a4, HI8).rearrange(X8));
        FloatVector ac3 = a6.blend(a7, HI8).add(a7.blend(a6, HI8).rearrange(X8));
        FloatVector ad0 = ac0.blend(ac1, BIT4).add(ac1.blend(ac0, BIT4).rearrange(X4));
        FloatVector ad1 = ac2.blend(ac3, BIT4).add(ac3.blend(ac2, BIT4).rearrange(X4));
        FloatVector ae = ad0.blend(ad1, BIT2).add(ad1.blend(ad0, BIT2).rearrange(X2));
        FloatVector bc0 = b0.blend(b1, HI8).add(b1.blend(b0, HI8).rearrange(X8));
        FloatVector bc1 = b2.blend(b3, HI8).add(b3.blend(b2, HI8).rearrange(X8));
        FloatVector bc2 = b4.blend(b5, HI8).add(b5.blend(b4, HI8).rearrange(X8));
        FloatVector bc3 = b6.blend(b7, HI8).add(b7.blend(b6, HI8).rearrange(X8));
        FloatVector bd0 = bc0.blend(bc1, BIT4).add(bc1.blend(bc0, BIT4).rearrange(X4));
        FloatVector bd1 = bc2.blend(bc3, BIT4).add(bc3.blend(bc2, BIT4).rearrange(X4));
        FloatVector be = bd0.blend(bd1, BIT2).add(bd1.blend(bd0, BIT2).rearrange(X2));
        FloatVector dc0 = d0.blend(d1, HI8).add(d1.blend(d0, HI8).rearrange(X8));
        FloatVector dc1 = d2.blend(d3, HI8).add(d3.blend(d2, HI8).rearrange(X8));
        FloatVector dc2 = d4.blend(d5, HI8).add(d5.blend(d4, HI8).rearrange(X8));
        FloatVector dc3 = d6.blend(d7, HI8).add(d7.blend(d6, HI8).rearrange(X8));
        FloatVector dd0 = dc0.blend(dc1, BIT4).add(dc1.blend(dc0, BIT4).rearrange(X4));
        FloatVector dd1 = dc2.blend(dc3, BIT4).add(dc3.blend(dc2, BIT4).rearrange(X4));
        FloatVector de = dd0.blend(dd1, BIT2).add(dd1.blend(dd0, BIT2).rearrange(X2));
        ae.intoArray(fold, at);
        be.intoArray(fold, at + 16);
        de.intoArray(fold, at + 32);
    }

    /** 8-lane vectors: lanes 4-7, and lanes whose index has bit 1 or 0 set; lane i takes lane i ^ 4, i ^ 2, i ^ 1. */
    private static final VectorMask<Float> HI4_8 = F.length() == 8 ? VectorMask.fromLong(F, 0xF0L) : null;
    private static final VectorMask<Float> BIT2_8 = F.length() == 8 ? VectorMask.fromLong(F, 0xCCL) : null;
    private static final VectorMask<Float> BIT1_8 = F.length() == 8 ? VectorMask.fromLong(F, 0xAAL) : null;
    private static final VectorShuffle<Float> X4_8 = F.length() == 8 ? VectorShuffle.fromOp(F, i -> i ^ 4) : null;
    private static final VectorShuffle<Float> X2_8 = F.length() == 8 ? VectorShuffle.fromOp(F, i -> i ^ 2) : null;
    private static final VectorShuffle<Float> X1_8 = F.length() == 8 ? VectorShuffle.fromOp(F, i -> i ^ 1) : null;

    /**
     * {@code out[j0 + i] = sc · q · key row i} for 8 key rows {@code stride} bytes apart from byte {@code o0}; 8-lane
     * vectors (AVX2, 16 registers: one head at a time, 8 accumulators), {@code p} a multiple of 8. The accumulators
     * are named in bit-reversed key order (a1 holds key 4, a2 key 2, ...), so that the three folds (a blend, its
     * mirror permuted, an add) leave key i's sum in lane i.
     */
    private static void scores8(float[] q, MemorySegment k, long o0, long stride, int p, float sc, float[] out, int j0) {
        FloatVector a0 = FloatVector.zero(F), a1 = FloatVector.zero(F), a2 = FloatVector.zero(F), a3 = FloatVector.zero(F);
        FloatVector a4 = FloatVector.zero(F), a5 = FloatVector.zero(F), a6 = FloatVector.zero(F), a7 = FloatVector.zero(F);
        for (int c = 0; c < p; c += 8) {
            FloatVector qv = FloatVector.fromArray(F, q, c);
            long o = o0 + c * 4L;
            a0 = FloatVector.fromMemorySegment(F, k, o, LE).fma(qv, a0);
            a4 = FloatVector.fromMemorySegment(F, k, o + stride, LE).fma(qv, a4);
            a2 = FloatVector.fromMemorySegment(F, k, o + 2 * stride, LE).fma(qv, a2);
            a6 = FloatVector.fromMemorySegment(F, k, o + 3 * stride, LE).fma(qv, a6);
            a1 = FloatVector.fromMemorySegment(F, k, o + 4 * stride, LE).fma(qv, a1);
            a5 = FloatVector.fromMemorySegment(F, k, o + 5 * stride, LE).fma(qv, a5);
            a3 = FloatVector.fromMemorySegment(F, k, o + 6 * stride, LE).fma(qv, a3);
            a7 = FloatVector.fromMemorySegment(F, k, o + 7 * stride, LE).fma(qv, a7);
        }
        FloatVector c0 = a0.blend(a1, HI4_8).add(a1.blend(a0, HI4_8).rearrange(X4_8));
        FloatVector c1 = a2.blend(a3, HI4_8).add(a3.blend(a2, HI4_8).rearrange(X4_8));
        FloatVector c2 = a4.blend(a5, HI4_8).add(a5.blend(a4, HI4_8).rearrange(X4_8));
        FloatVector c3 = a6.blend(a7, HI4_8).add(a7.blend(a6, HI4_8).rearrange(X4_8));
        FloatVector d0 = c0.blend(c1, BIT2_8).add(c1.blend(c0, BIT2_8).rearrange(X2_8));
        FloatVector d1 = c2.blend(c3, BIT2_8).add(c3.blend(c2, BIT2_8).rearrange(X2_8));
        d0.blend(d1, BIT1_8).add(d1.blend(d0, BIT1_8).rearrange(X1_8)).mul(sc).intoArray(out, j0);
    }

    /**
     * {@code acc0[c, c + 32) = sum over keys j < n of w0[j] * V_j[c, c + 32)} and the same for {@code w1} into
     * {@code acc1}, value rows {@code stride} bytes apart from byte {@code at}; 8-lane vectors: eight accumulators
     * over all the keys, each value vector loaded once for the two heads.
     */
    private static void values2x32(float[] w0, float[] w1, MemorySegment v, long at, long stride, int n, float[] acc0,
            float[] acc1, int c) {
        FloatVector a0 = FloatVector.zero(F), a1 = FloatVector.zero(F), a2 = FloatVector.zero(F), a3 = FloatVector.zero(F);
        FloatVector b0 = FloatVector.zero(F), b1 = FloatVector.zero(F), b2 = FloatVector.zero(F), b3 = FloatVector.zero(F);
        for (int j = 0; j < n; j++) {
            long o = at + j * stride;
            FloatVector v0 = FloatVector.fromMemorySegment(F, v, o, LE);
            FloatVector v1 = FloatVector.fromMemorySegment(F, v, o + 32, LE);
            FloatVector v2 = FloatVector.fromMemorySegment(F, v, o + 64, LE);
            FloatVector v3 = FloatVector.fromMemorySegment(F, v, o + 96, LE);
            FloatVector x = FloatVector.broadcast(F, w0[j]);
            a0 = v0.fma(x, a0);
            a1 = v1.fma(x, a1);
            a2 = v2.fma(x, a2);
            a3 = v3.fma(x, a3);
            x = FloatVector.broadcast(F, w1[j]);
            b0 = v0.fma(x, b0);
            b1 = v1.fma(x, b1);
            b2 = v2.fma(x, b2);
            b3 = v3.fma(x, b3);
        }
        a0.intoArray(acc0, c);
        a1.intoArray(acc0, c + 8);
        a2.intoArray(acc0, c + 16);
        a3.intoArray(acc0, c + 24);
        b0.intoArray(acc1, c);
        b1.intoArray(acc1, c + 8);
        b2.intoArray(acc1, c + 16);
        b3.intoArray(acc1, c + 24);
    }

    /** As {@link #values2x32} for one head and 64 columns (a group's last head when the group is odd). */
    private static void values1x64(float[] w0, MemorySegment v, long at, long stride, int n, float[] acc0, int c) {
        FloatVector a0 = FloatVector.zero(F), a1 = FloatVector.zero(F), a2 = FloatVector.zero(F), a3 = FloatVector.zero(F);
        FloatVector a4 = FloatVector.zero(F), a5 = FloatVector.zero(F), a6 = FloatVector.zero(F), a7 = FloatVector.zero(F);
        for (int j = 0; j < n; j++) {
            long o = at + j * stride;
            FloatVector x = FloatVector.broadcast(F, w0[j]);
            a0 = FloatVector.fromMemorySegment(F, v, o, LE).fma(x, a0);
            a1 = FloatVector.fromMemorySegment(F, v, o + 32, LE).fma(x, a1);
            a2 = FloatVector.fromMemorySegment(F, v, o + 64, LE).fma(x, a2);
            a3 = FloatVector.fromMemorySegment(F, v, o + 96, LE).fma(x, a3);
            a4 = FloatVector.fromMemorySegment(F, v, o + 128, LE).fma(x, a4);
            a5 = FloatVector.fromMemorySegment(F, v, o + 160, LE).fma(x, a5);
            a6 = FloatVector.fromMemorySegment(F, v, o + 192, LE).fma(x, a6);
            a7 = FloatVector.fromMemorySegment(F, v, o + 224, LE).fma(x, a7);
        }
        a0.intoArray(acc0, c);
        a1.intoArray(acc0, c + 8);
        a2.intoArray(acc0, c + 16);
        a3.intoArray(acc0, c + 24);
        a4.intoArray(acc0, c + 32);
        a5.intoArray(acc0, c + 40);
        a6.intoArray(acc0, c + 48);
        a7.intoArray(acc0, c + 56);
    }

    /** {@code s[j] = exp(s[j] - max)} for {@code j < n} (a multiple of the vector length); returns their sum. */
    private static float expShifted(float[] s, int n, float max) {
        return Vec.expShiftedSum(s, 0, n, max);
    }

    /**
     * {@code acc[r] += w_r[j]·V_j + ... + w_r[j+3]·V_{j+3}} for every head {@code r} of the group, value rows at
     * byte offsets {@code o0..o3}: each vector of the four value rows is loaded once for all the heads.
     */
    private static void valuesOf4(float[][] w, int j, MemorySegment v, long o0, long o1, long o2, long o3, float[][] acc, int p) {
        for (int c = 0; c < p; c += F.length()) {
            long cb = c * 4L;
            FloatVector v0 = FloatVector.fromMemorySegment(F, v, o0 + cb, LE);
            FloatVector v1 = FloatVector.fromMemorySegment(F, v, o1 + cb, LE);
            FloatVector v2 = FloatVector.fromMemorySegment(F, v, o2 + cb, LE);
            FloatVector v3 = FloatVector.fromMemorySegment(F, v, o3 + cb, LE);
            for (int r = 0; r < w.length; r++) {
                float[] wr = w[r];
                float[] a = acc[r];
                v0.fma(FloatVector.broadcast(F, wr[j]), FloatVector.fromArray(F, a, c))
                        .add(v1.mul(FloatVector.broadcast(F, wr[j + 1])))
                        .add(v2.fma(FloatVector.broadcast(F, wr[j + 2]), v3.mul(FloatVector.broadcast(F, wr[j + 3]))))
                        .intoArray(a, c);
            }
        }
    }

    /** Query rows per task of {@link #forwardBlocked}. */
    static final int QROWS = 4;

    /**
     * Keys (or, in the backward's second pass, queries) per block of the blocked paths; a multiple of two vectors
     * at every width. At 8 lanes, against blocks of 64: {@code AttentionBench} prompt 6.3-6.4 against 5.8-8.2 ms,
     * promptLong 82-87 against 83-99 ms, forward+backward 27.5-31.4 against 30.9-39.0 ms (four alternating JMH runs
     * each, Zen 3); blocks of 256 read as 128 within the noise.
     */
    static final int KEY_BLOCK = 128;

    /**
     * The prompt path (at least {@link #QROWS} query rows, head width a multiple of the vector length). Each
     * key/value head's keys and values are first laid out by {@link #pack}: the keys transposed in panels,
     * so that the scores of a query row against a pair of key vectors are {@code p} broadcast-FMAs with no reduction
     * per key. A task takes {@link #QROWS} query rows of every query head that shares one key/value head (GQA): each
     * key vector loaded serves four rows, each value row four output accumulators, and a panel of keys or a group
     * of value columns, read from L2 for the first head, is read from L1 for the others. Keys go in blocks of
     * {@link #KEY_BLOCK}: the scores of the block first (eight FMA chains), then the online softmax once per
     * block and row (one max, the accumulator rescaled at most once, an exp per score, one sum), then the block's
     * values into the rows' accumulators, each loaded and stored once per block and group of columns.
     *
     * <p>Against blocks of one vector of keys per query head, with values read from the cache rows (the softmax
     * step, and the accumulators' loads and stores, once per vector of keys; every key and value read once per
     * query head; a bounds check and a multiply in every step of the value loop): {@code AttentionBench.prompt}
     * (6 / 2 heads of 128, 512 tokens, Zen 3, alternating JMH runs) 10.1-10.4 ms against 6.4-6.8 ms with blocks
     * of 64 keys (see {@link #KEY_BLOCK} for 128).
     */
    private static void forwardBlocked(MemorySegment q, MemorySegment k, MemorySegment v, MemorySegment o, MemorySegment lse,
                                       Dims m, float sc) {
        int p = m.p();
        int l = F.length();
        int w = 2 * l;
        int kb = KEY_BLOCK;
        int hpg = m.h() / m.kv(); // query heads per key/value head
        int tkPad = (m.tk() + w - 1) / w * w;
        int pp = (p + w - 1) / w * w; // accumulator rows padded to whole pairs of vectors
        RowOffset kAt = (t, j) -> m.kOff(t / m.kv(), j, t % m.kv());
        float[][] kp = pack(k, m.b() * m.kv(), m.tk(), tkPad, p, pp, true, kAt);
        float[][] vg = pack(v, m.b() * m.kv(), m.tk(), tkPad, p, pp, false, kAt);
        int qBlocks = (m.tq() + QROWS - 1) / QROWS;
        Parallel.range(m.b() * m.kv() * qBlocks, 1, (lo, hi) -> {
            float[][][] qr = new float[hpg][QROWS][p]; // per query head of the group: four rows
            float[][] acc = new float[hpg][QROWS * pp];
            float[][] s = new float[hpg][QROWS * kb]; // a block's scores, then its weights, row r at r * kb
            float[][] max = new float[hpg][QROWS];
            float[][] sum = new float[hpg][QROWS];
            for (int task = lo; task < hi; task++) {
                int qb = task % qBlocks;
                int g = (task / qBlocks) % m.kv();
                int bb = task / (qBlocks * m.kv());
                float[] kpg = kp[bb * m.kv() + g];
                float[] vgg = vg[bb * m.kv() + g];
                int i0 = qb * QROWS;
                int nr = Math.min(QROWS, m.tq() - i0); // rows past the end repeat the last; their results are dropped
                for (int a = 0; a < hpg; a++) {
                    for (int r = 0; r < QROWS; r++) {
                        loadRows(q, null, m.qOff(bb, i0 + Math.min(r, nr - 1), g * hpg + a) * 4, qr[a][r], null, sc);
                        max[a][r] = Float.NEGATIVE_INFINITY;
                        sum[a][r] = 0;
                    }
                    java.util.Arrays.fill(acc[a], 0f);
                }
                int lastAll = m.lastKey(i0 + nr - 1);
                for (int j0 = 0; j0 <= lastAll; j0 += kb) {
                    int n = Math.min(kb, lastAll + 1 - j0); // keys of this block any of the rows sees
                    for (int jj = 0; jj < n; jj += w) {
                        for (int a = 0; a < hpg; a++) { // the heads in turn, the panel of keys from L1
                            scores4x2(kpg, (j0 + jj) * p, qr[a], p, s[a], jj, kb);
                        }
                    }
                    for (int a = 0; a < hpg; a++) {
                        for (int r = 0; r < QROWS; r++) {
                            softmaxKeys(s[a], r, kb, j0, n, m.lastKey(i0 + Math.min(r, nr - 1)), max[a], sum[a], acc[a], pp);
                        }
                    }
                    for (int t = 0; t < pp; t += w) { // each group of value columns for every head in turn, from L1
                        for (int a = 0; a < hpg; a++) {
                            values4x2(acc[a], pp, t, s[a], kb, vgg, t * tkPad + j0 * w, n);
                        }
                    }
                }
                for (int a = 0; a < hpg; a++) {
                    int hh = g * hpg + a;
                    for (int r = 0; r < nr; r++) {
                        float inv = 1f / sum[a][r];
                        long qo = m.qOff(bb, i0 + r, hh) * 4;
                        for (int c = 0; c < p; c++) {
                            o.set(Buf.F32, qo + c * 4L, acc[a][r * pp + c] * inv);
                        }
                        if (lse != null) {
                            lse.setAtIndex(Buf.F32, ((long) bb * m.h() + hh) * m.tq() + i0 + r, max[a][r] + (float) Math.log(sum[a][r]));
                        }
                    }
                }
            }
        });
    }

    /**
     * Rows of {@code src} ({@code rows} per (batch, head), where {@code at} says) laid out per (batch, head) for the
     * blocked loops, whose reads then step by a constant (C2 hoists their bounds checks; a stride of the sequence or
     * of the cache row kept a check and a multiply in every step): with {@code panels}, transposed in panels of
     * {@code 2L} rows ({@code [j / 2L][c][j % 2L]}, for {@link #scores4x2}); otherwise in groups of {@code 2L}
     * columns ({@code [c / 2L][j][c % 2L]}, for {@link #values4x2}). Zero past {@code rows} and {@code p}.
     *
     * @param pad  rows rounded up to a multiple of {@code 2L}
     * @param pp   {@code p} rounded up to a multiple of {@code 2L}
     */
    private static float[][] pack(MemorySegment src, int heads, int rows, int pad, int p, int pp, boolean panels, RowOffset at) {
        int w = 2 * F.length();
        float[][] out = new float[heads][];
        Parallel.range(heads, 1, (lo, hi) -> {
            float[] row = new float[p];
            for (int t = lo; t < hi; t++) {
                float[] a = new float[panels ? pad * p : pad * pp];
                for (int j = 0; j < rows; j++) {
                    long o = at.of(t, j) * 4;
                    if (panels) {
                        MemorySegment.copy(src, Buf.F32, o, row, 0, p);
                        int base = (j / w) * p * w + j % w;
                        for (int c = 0; c < p; c++) {
                            a[base + c * w] = row[c];
                        }
                    } else {
                        for (int c = 0; c < p; c += w) {
                            MemorySegment.copy(src, Buf.F32, o + c * 4L, a, c * pad + j * w, Math.min(w, p - c));
                        }
                    }
                }
                out[t] = a;
            }
        });
        return out;
    }

    /**
     * One row's online-softmax step over a block of {@code n} keys from {@code j0}, its scores at {@code s[r * kb ..]}
     * (whole vectors): scores past {@code last} masked out, the running max raised once for the block (the row's
     * accumulator and sum rescaled to it), and the block's weights written over the scores for the value pass
     * (zeros past {@code last}).
     */
    private static void softmaxKeys(float[] s, int r, int kb, int j0, int n, int last, float[] max, float[] sum, float[] acc, int p) {
        int l = F.length();
        int base = r * kb;
        int vecs = (n + l - 1) / l;
        int valid = Math.min(n, last + 1 - j0);
        if (valid <= 0) {
            java.util.Arrays.fill(s, base, base + vecs * l, 0f);
            return;
        }
        FloatVector mx = FloatVector.broadcast(F, Float.NEGATIVE_INFINITY);
        for (int v = 0; v < vecs; v++) {
            int at = base + v * l;
            FloatVector x = FloatVector.fromArray(F, s, at);
            if (v * l + l > valid) {
                x = x.blend(Float.NEGATIVE_INFINITY, F.indexInRange(v * l, valid).not());
                x.intoArray(s, at);
            }
            mx = mx.max(x);
        }
        float nmax = Math.max(max[r], mx.reduceLanes(VectorOperators.MAX));
        if (nmax != max[r]) {
            float corr = (float) Math.exp(max[r] - nmax);
            sum[r] *= corr;
            for (int c = r * p, end = c + p; c < end; c += l) {
                FloatVector.fromArray(F, acc, c).mul(corr).intoArray(acc, c);
            }
            max[r] = nmax;
        }
        for (int v = 0; v < vecs; v++) {
            int at = base + v * l;
            FloatVector.fromArray(F, s, at).sub(nmax).intoArray(s, at);
            expInPlace(s, at);
        }
        sum[r] += sumRange(s, base, vecs);
    }

    /**
     * {@link Vec#sum} of {@code vecs} vectors from {@code a[at]}, added lane-wise first; a method of its own with no
     * vector crossing its boundary: called from the softmax step with a vector as the argument, C2 left
     * {@code Vec.sum} out of line and boxed the vector on every call (7% of a prompt's forward at 8 lanes).
     */
    private static float sumRange(float[] a, int at, int vecs) {
        int l = F.length();
        FloatVector t = FloatVector.fromArray(F, a, at);
        for (int v = 1; v < vecs; v++) {
            t = t.add(FloatVector.fromArray(F, a, at + v * l));
        }
        return Vec.sum(t);
    }

    /**
     * The prompt path of {@link #backward}, blocked like {@link #forwardBlocked}. Pass 1 (dq): four query rows of
     * every head that shares a KV head against blocks of {@link #KEY_BLOCK} keys: scores and
     * {@code dO·vᵀ} over keys and values in panels, {@code dS = P ∘ (dP - D)} per row and block
     * ({@link #gradWeights}), then {@code dq += dS·k} over the keys in column groups. Pass 2 (dk, dv): four key
     * rows of one KV head against blocks of query rows of each query head sharing it, over queries and output
     * gradients in panels, then {@code dv += Pᵀ·dO} and {@code dk += dSᵀ·q} over them in column groups. The steps
     * are small methods that pass arrays, not vectors: in one large body C2 gave up (C1 ran out of registers, C2
     * recompiled after traps) and every vector was boxed. Against blocks of one vector of keys (or queries) per
     * head, with the accumulators reloaded every vector and the operands read with a stride of the sequence:
     * {@code AttentionBench.promptForwardBackward} (6 / 2 heads of 128, 512 tokens, Zen 3, alternating JMH runs)
     * 46.5-50.2 ms against 26.4-31.2.
     */
    private static void backwardBlocked(MemorySegment dO, MemorySegment q, MemorySegment k, MemorySegment v, MemorySegment lse,
                                        float[] drow, MemorySegment dq, MemorySegment dk, MemorySegment dv, Dims m, float sc) {
        int p = m.p();
        int l = F.length();
        int w = 2 * l;
        int kb = KEY_BLOCK;
        int tk = m.tk();
        int tq = m.tq();
        int hpg = m.h() / m.kv();
        int pp = (p + w - 1) / w * w;
        int tkPad = (tk + w - 1) / w * w;
        int tqPad = (tq + w - 1) / w * w;
        RowOffset kAt = (t, j) -> m.kOff(t / m.kv(), j, t % m.kv());
        if (dq != null) {
            // pass 1 (dq): four query rows of every head sharing a KV head against blocks of keys, as the forward
            float[][] kp = pack(k, m.b() * m.kv(), tk, tkPad, p, pp, true, kAt);
            float[][] vp = pack(v, m.b() * m.kv(), tk, tkPad, p, pp, true, kAt);
            float[][] kg = pack(k, m.b() * m.kv(), tk, tkPad, p, pp, false, kAt);
            int qBlocks = (tq + QROWS - 1) / QROWS;
            Parallel.range(m.b() * m.kv() * qBlocks, 1, (lo, hi) -> {
                float[][][] qr = new float[hpg][QROWS][p];
                float[][][] gr = new float[hpg][QROWS][p];
                float[][] acc = new float[hpg][QROWS * pp];
                float[][] s = new float[hpg][QROWS * kb];
                float[][] dp = new float[hpg][QROWS * kb];
                for (int task = lo; task < hi; task++) {
                    int qb = task % qBlocks;
                    int g = (task / qBlocks) % m.kv();
                    int bb = task / (qBlocks * m.kv());
                    int t = bb * m.kv() + g;
                    int i0 = qb * QROWS;
                    int nr = Math.min(QROWS, tq - i0); // rows past the end repeat the last; their results are dropped
                    for (int a = 0; a < hpg; a++) {
                        for (int r = 0; r < QROWS; r++) {
                            loadRows(q, dO, m.qOff(bb, i0 + Math.min(r, nr - 1), g * hpg + a) * 4, qr[a][r], gr[a][r], sc);
                        }
                        java.util.Arrays.fill(acc[a], 0f);
                    }
                    int lastAll = m.lastKey(i0 + nr - 1);
                    for (int j0 = 0; j0 <= lastAll; j0 += kb) {
                        int n = Math.min(kb, lastAll + 1 - j0);
                        for (int jj = 0; jj < n; jj += w) {
                            for (int a = 0; a < hpg; a++) {
                                scores4x2(kp[t], (j0 + jj) * p, qr[a], p, s[a], jj, kb);
                                scores4x2(vp[t], (j0 + jj) * p, gr[a], p, dp[a], jj, kb);
                            }
                        }
                        for (int a = 0; a < hpg; a++) {
                            int rowBase = (bb * m.h() + g * hpg + a) * tq + i0;
                            for (int r = 0; r < QROWS; r++) {
                                int rr = Math.min(r, nr - 1);
                                // key j is seen from row i0 + rr when j <= lastKey
                                gradWeights(s[a], dp[a], r, kb, n, 0, m.lastKey(i0 + rr) + 1 - j0,
                                        lse.getAtIndex(Buf.F32, rowBase + rr), drow[rowBase + rr], null, null, 0, sc, null);
                            }
                        }
                        for (int c = 0; c < pp; c += w) {
                            for (int a = 0; a < hpg; a++) {
                                values4x2(acc[a], pp, c, s[a], kb, kg[t], c * tkPad + j0 * w, n);
                            }
                        }
                    }
                    for (int a = 0; a < hpg; a++) {
                        for (int r = 0; r < nr; r++) {
                            MemorySegment.copy(acc[a], r * pp, dq, Buf.F32, m.qOff(bb, i0 + r, g * hpg + a) * 4, p);
                        }
                    }
                }
            });
        }
        if (dk == null && dv == null) {
            return;
        }
        // pass 2 (dk, dv): four keys against blocks of query rows of each head sharing their KV head
        RowOffset qAt = (t, i) -> m.qOff(t / m.h(), i, t % m.h());
        float[][] qp = pack(q, m.b() * m.h(), tq, tqPad, p, pp, true, qAt);
        float[][] gp = pack(dO, m.b() * m.h(), tq, tqPad, p, pp, true, qAt);
        float[][] qg = pack(q, m.b() * m.h(), tq, tqPad, p, pp, false, qAt);
        float[][] gg = pack(dO, m.b() * m.h(), tq, tqPad, p, pp, false, qAt);
        // lse and D per (batch, head), padded to whole vectors past the last row
        float[][] lses = new float[m.b() * m.h()][tqPad];
        float[][] ds = new float[m.b() * m.h()][tqPad];
        for (int t = 0; t < m.b() * m.h(); t++) {
            MemorySegment.copy(lse, Buf.F32, (long) t * tq * 4, lses[t], 0, tq);
            System.arraycopy(drow, t * tq, ds[t], 0, tq);
        }
        int offset = tk - tq;
        int keyBlocks = (tk + QROWS - 1) / QROWS;
        Parallel.range(m.b() * m.kv() * keyBlocks, 1, (lo, hi) -> {
            float[][] kr = new float[QROWS][p];
            float[][] vr = new float[QROWS][p];
            float[] gk = new float[QROWS * pp];
            float[] gv = new float[QROWS * pp];
            float[] s = new float[QROWS * kb];
            float[] dp = new float[QROWS * kb];
            float[] pw = new float[QROWS * kb];
            for (int task = lo; task < hi; task++) {
                int kblk = task % keyBlocks;
                int g = (task / keyBlocks) % m.kv();
                int bb = task / (keyBlocks * m.kv());
                int j0 = kblk * QROWS;
                int nk = Math.min(QROWS, tk - j0); // keys past the end repeat the last; their results are dropped
                for (int r = 0; r < QROWS; r++) {
                    loadRows(k, v, m.kOff(bb, j0 + Math.min(r, nk - 1), g) * 4, kr[r], vr[r], sc);
                }
                java.util.Arrays.fill(gk, 0f);
                java.util.Arrays.fill(gv, 0f);
                int first = Math.max(0, j0 - offset) / w * w; // the first panel of queries any of the keys is seen from
                for (int hh = g * hpg; hh < (g + 1) * hpg; hh++) {
                    int t = bb * m.h() + hh;
                    for (int i0 = first; i0 < tq; i0 += kb) {
                        int n = Math.min(kb, tq - i0);
                        for (int ii = 0; ii < n; ii += w) {
                            scores4x2(qp[t], (i0 + ii) * p, kr, p, s, ii, kb);
                            scores4x2(gp[t], (i0 + ii) * p, vr, p, dp, ii, kb);
                        }
                        for (int r = 0; r < QROWS; r++) {
                            // query row i sees key j when i >= j - offset, and exists when i < tq
                            int f = j0 + Math.min(r, nk - 1) - offset;
                            gradWeights(s, dp, r, kb, n, f - i0, tq - i0, 0, 0, lses[t], ds[t], i0, sc, pw);
                        }
                        for (int c = 0; c < pp; c += w) {
                            values4x2(gk, pp, c, s, kb, qg[t], c * tqPad + i0 * w, n);
                            values4x2(gv, pp, c, pw, kb, gg[t], c * tqPad + i0 * w, n);
                        }
                    }
                }
                for (int r = 0; r < nk; r++) {
                    long ko = m.kOff(bb, j0 + r, g) * 4;
                    if (dk != null) {
                        MemorySegment.copy(gk, r * pp, dk, Buf.F32, ko, p);
                    }
                    if (dv != null) {
                        MemorySegment.copy(gv, r * pp, dv, Buf.F32, ko, p);
                    }
                }
            }
        });
    }

    /**
     * Row {@code r} of a block of {@code n} products for the gradients ({@code s} the scaled scores, {@code dp} the
     * products with {@code dO}, row {@code r} at {@code r * kb}): {@code P = exp(s - lse)} where the element's index
     * {@code e} (0 at the block's first) lies in {@code [from, to)}, 0 elsewhere, written to {@code pw} when it is
     * not null, and {@code scale * P ∘ (dp - D)} written over {@code s}. {@code lse} and {@code D} are one value
     * for the row ({@code lseRow}, {@code dRow}) or, where {@code lses} is not null, one per element, from
     * {@code lses[at + e]} and {@code ds[at + e]} (padded to whole vectors).
     */
    private static void gradWeights(float[] s, float[] dp, int r, int kb, int n, int from, int to, float lseRow, float dRow,
                                    float[] lses, float[] ds, int at, float sc, float[] pw) {
        int l = F.length();
        int base = r * kb;
        int vecs = (n + l - 1) / l;
        for (int v = 0; v < vecs; v++) {
            int o = base + v * l;
            FloatVector x = FloatVector.fromArray(F, s, o);
            x = lses == null ? x.sub(lseRow) : x.sub(FloatVector.fromArray(F, lses, at + v * l));
            x.intoArray(s, o);
            expInPlace(s, o);
            FloatVector pr = FloatVector.fromArray(F, s, o);
            int e0 = v * l;
            if (e0 < from || e0 + l > to) {
                pr = pr.blend(0f, F.indexInRange(e0 - from, to - from).not());
            }
            if (pw != null) {
                pr.intoArray(pw, o);
            }
            FloatVector d = lses == null ? FloatVector.broadcast(F, dRow) : FloatVector.fromArray(F, ds, at + v * l);
            pr.mul(FloatVector.fromArray(F, dp, o).sub(d)).mul(sc).intoArray(s, o);
        }
    }

    /**
     * The scores of four query rows ({@code qr}) against the panel of {@code 2L} keys at {@code kp[off ..]} (laid
     * out by {@link #pack}: key {@code j}'s column {@code c} at {@code off + c * 2L + j}) into
     * {@code out[r * stride + at ..]}. Eight accumulators, each key vector loaded once for the four rows. Two steps
     * of the reduction are written out per iteration, in the same order per accumulator (the same sums, bit for bit):
     * from the one-step loop C2 unrolled eight steps and emitted each accumulator's eight FMAs back to back, a chain
     * the out-of-order window did not cover; {@code AttentionBench.prompt} (T 512, 2 threads, Zen 4, alternating
     * jars) 4.60-4.79 -> 2.82-3.54 ms, forward+backward 19.8-27.4 -> 14.0-16.2 ms. The same change to
     * {@link #values4x2} measured slower, and a global {@code -XX:LoopMaxUnroll=2} slowed the GEMM by ~3%.
     */
    private static void scores4x2(float[] kp, int off, float[][] qr, int p, float[] out, int at, int stride) {
        int l = F.length();
        int w = 2 * l;
        float[] q0 = qr[0], q1 = qr[1], q2 = qr[2], q3 = qr[3];
        FloatVector s00 = FloatVector.zero(F), s01 = FloatVector.zero(F), s10 = FloatVector.zero(F), s11 = FloatVector.zero(F);
        FloatVector s20 = FloatVector.zero(F), s21 = FloatVector.zero(F), s30 = FloatVector.zero(F), s31 = FloatVector.zero(F);
        int c = 0;
        for (; c + 1 < p; c += 2) {
            FloatVector k0 = FloatVector.fromArray(F, kp, off + c * w);
            FloatVector k1 = FloatVector.fromArray(F, kp, off + c * w + l);
            FloatVector k2 = FloatVector.fromArray(F, kp, off + c * w + w);
            FloatVector k3 = FloatVector.fromArray(F, kp, off + c * w + w + l);
            FloatVector x = FloatVector.broadcast(F, q0[c]);
            FloatVector y = FloatVector.broadcast(F, q1[c]);
            s00 = k0.fma(x, s00);
            s01 = k1.fma(x, s01);
            s10 = k0.fma(y, s10);
            s11 = k1.fma(y, s11);
            x = FloatVector.broadcast(F, q2[c]);
            y = FloatVector.broadcast(F, q3[c]);
            s20 = k0.fma(x, s20);
            s21 = k1.fma(x, s21);
            s30 = k0.fma(y, s30);
            s31 = k1.fma(y, s31);
            x = FloatVector.broadcast(F, q0[c + 1]);
            y = FloatVector.broadcast(F, q1[c + 1]);
            s00 = k2.fma(x, s00);
            s01 = k3.fma(x, s01);
            s10 = k2.fma(y, s10);
            s11 = k3.fma(y, s11);
            x = FloatVector.broadcast(F, q2[c + 1]);
            y = FloatVector.broadcast(F, q3[c + 1]);
            s20 = k2.fma(x, s20);
            s21 = k3.fma(x, s21);
            s30 = k2.fma(y, s30);
            s31 = k3.fma(y, s31);
        }
        for (; c < p; c++) {
            FloatVector k0 = FloatVector.fromArray(F, kp, off + c * w);
            FloatVector k1 = FloatVector.fromArray(F, kp, off + c * w + l);
            FloatVector x = FloatVector.broadcast(F, q0[c]);
            s00 = k0.fma(x, s00);
            s01 = k1.fma(x, s01);
            x = FloatVector.broadcast(F, q1[c]);
            s10 = k0.fma(x, s10);
            s11 = k1.fma(x, s11);
            x = FloatVector.broadcast(F, q2[c]);
            s20 = k0.fma(x, s20);
            s21 = k1.fma(x, s21);
            x = FloatVector.broadcast(F, q3[c]);
            s30 = k0.fma(x, s30);
            s31 = k1.fma(x, s31);
        }
        s00.intoArray(out, at);
        s01.intoArray(out, at + l);
        s10.intoArray(out, stride + at);
        s11.intoArray(out, stride + at + l);
        s20.intoArray(out, 2 * stride + at);
        s21.intoArray(out, 2 * stride + at + l);
        s30.intoArray(out, 3 * stride + at);
        s31.intoArray(out, 3 * stride + at + l);
    }

    /**
     * {@code acc[r][t .. t + 2L) += sum over i < n of w[r * ws + i] * vp[off + i * 2L ..]} for four rows (rows
     * {@code stride} apart in {@code acc}): the values of {@link #pack}, eight accumulators.
     */
    private static void values4x2(float[] acc, int stride, int t, float[] w, int ws, float[] vp, int off, int n) {
        int l = F.length();
        int g = 2 * l;
        FloatVector a0 = FloatVector.fromArray(F, acc, t), b0 = FloatVector.fromArray(F, acc, t + l);
        FloatVector a1 = FloatVector.fromArray(F, acc, stride + t), b1 = FloatVector.fromArray(F, acc, stride + t + l);
        FloatVector a2 = FloatVector.fromArray(F, acc, 2 * stride + t), b2 = FloatVector.fromArray(F, acc, 2 * stride + t + l);
        FloatVector a3 = FloatVector.fromArray(F, acc, 3 * stride + t), b3 = FloatVector.fromArray(F, acc, 3 * stride + t + l);
        for (int i = 0; i < n; i++) {
            FloatVector x = FloatVector.fromArray(F, vp, off + i * g);
            FloatVector y = FloatVector.fromArray(F, vp, off + i * g + l);
            FloatVector wv = FloatVector.broadcast(F, w[i]);
            a0 = x.fma(wv, a0);
            b0 = y.fma(wv, b0);
            wv = FloatVector.broadcast(F, w[ws + i]);
            a1 = x.fma(wv, a1);
            b1 = y.fma(wv, b1);
            wv = FloatVector.broadcast(F, w[2 * ws + i]);
            a2 = x.fma(wv, a2);
            b2 = y.fma(wv, b2);
            wv = FloatVector.broadcast(F, w[3 * ws + i]);
            a3 = x.fma(wv, a3);
            b3 = y.fma(wv, b3);
        }
        a0.intoArray(acc, t);
        b0.intoArray(acc, t + l);
        a1.intoArray(acc, stride + t);
        b1.intoArray(acc, stride + t + l);
        a2.intoArray(acc, 2 * stride + t);
        b2.intoArray(acc, 2 * stride + t + l);
        a3.intoArray(acc, 3 * stride + t);
        b3.intoArray(acc, 3 * stride + t + l);
    }

    /**
     * {@code a[at .. at + L) = exp(a[at ..])} with {@link Vec#exp} ({@code VectorOperators.EXP} runs lane by lane
     * here). Its own small method, vectors neither in nor out: in the kernels' large bodies C2 may leave
     * {@code Vec.exp} out of line, and a vector crossing a call that is not inlined is boxed (fwd+bwd 6x slower).
     */
    private static void expInPlace(float[] a, int at) {
        Vec.exp(FloatVector.fromArray(F, a, at)).intoArray(a, at);
    }

    /**
     * The rows at byte {@code at} of {@code a} (times {@code scale}) into {@code ar} and of {@code b} (as it is;
     * skipped when {@code b} is null) into {@code br}, {@code ar.length} floats each.
     */
    private static void loadRows(MemorySegment a, MemorySegment b, long at, float[] ar, float[] br, float scale) {
        MemorySegment.copy(a, Buf.F32, at, ar, 0, ar.length);
        for (int c = 0; c < ar.length; c++) {
            ar[c] *= scale;
        }
        if (b != null) {
            MemorySegment.copy(b, Buf.F32, at, br, 0, br.length);
        }
    }

    /** Where row {@code j} of head {@code t} (batch-major) starts, in floats. */
    @FunctionalInterface
    private interface RowOffset {
        long of(int t, int j);
    }

    /** {@code n} rounded up to a multiple of the vector length. */
    private static int padded(int n) {
        int l = F.length();
        return (n + l - 1) / l * l;
    }

    @Override
    public void backward(Buf dOb, Buf qb, Buf kb, Buf vb, Buf ob, Buf lseb, Buf dqb, Buf dkb, Buf dvb, Dims m, double scaleD) {
        int p = m.p();
        long nq = (long) m.b() * m.tq() * m.h() * p;
        long nk = (long) m.b() * m.cap() * m.kv() * p;
        MemorySegment dO = dOb.requireF32("dO", nq).seg();
        MemorySegment q = qb.requireF32("q", nq).seg();
        MemorySegment k = kb.requireF32("k", nk).seg();
        MemorySegment v = vb.requireF32("v", nk).seg();
        MemorySegment o = ob.requireF32("o", nq).seg();
        MemorySegment lse = lseb.requireF32("lse", (long) m.b() * m.h() * m.tq()).seg();
        float sc = (float) scaleD;
        // D_i = dO_i · o_i, the row sums of dP ∘ P
        float[] drow = new float[m.b() * m.h() * m.tq()];
        Parallel.range(drow.length, 64, (lo, hi) -> {
            float[] a = new float[p];
            for (int row = lo; row < hi; row++) {
                int i = row % m.tq();
                int hh = (row / m.tq()) % m.h();
                int bb = row / (m.tq() * m.h());
                long qo = m.qOff(bb, i, hh) * 4;
                MemorySegment.copy(dO, Buf.F32, qo, a, 0, p);
                drow[row] = dot(a, o, qo, p);
            }
        });
        if (m.tq() >= QROWS && m.tk() >= QROWS && p % F.length() == 0) {
            backwardBlocked(dO, q, k, v, lse, drow, dqb == null ? null : dqb.requireF32("dq", nq).seg(),
                    dkb == null ? null : dkb.requireF32("dk", nk).seg(), dvb == null ? null : dvb.requireF32("dv", nk).seg(), m, sc);
            return;
        }
        if (dqb != null) {
            MemorySegment dq = dqb.requireF32("dq", nq).seg();
            // pass 1: dq_i = scale * sum_j p_ij (dp_ij - D_i) k_j
            Parallel.range(drow.length, 1, (lo, hi) -> {
                float[] qr = new float[p];
                float[] gr = new float[p];
                float[] acc = new float[p];
                for (int row = lo; row < hi; row++) {
                    int i = row % m.tq();
                    int hh = (row / m.tq()) % m.h();
                    int bb = row / (m.tq() * m.h());
                    int g = m.kvHead(hh);
                    long qo = m.qOff(bb, i, hh) * 4;
                    MemorySegment.copy(q, Buf.F32, qo, qr, 0, p);
                    MemorySegment.copy(dO, Buf.F32, qo, gr, 0, p);
                    java.util.Arrays.fill(acc, 0f);
                    float l = lse.getAtIndex(Buf.F32, row);
                    for (int j = 0; j <= m.lastKey(i); j++) {
                        long ko = m.kOff(bb, j, g) * 4;
                        float pj = (float) Math.exp(sc * dot(qr, k, ko, p) - l);
                        float ds = pj * (dot(gr, v, ko, p) - drow[row]);
                        axpy(sc * ds, k, ko, acc, p);
                    }
                    MemorySegment.copy(acc, 0, dq, Buf.F32, qo, p);
                }
            });
        }
        if (dkb == null && dvb == null) {
            return;
        }
        MemorySegment dk = dkb == null ? null : dkb.requireF32("dk", nk).seg();
        MemorySegment dv = dvb == null ? null : dvb.requireF32("dv", nk).seg();
        int group = m.h() / m.kv();
        int offset = m.tk() - m.tq();
        // pass 2: per key row j of key head g, sum over its query heads and the query rows that see it
        Parallel.range(m.b() * m.kv() * m.tk(), 1, (lo, hi) -> {
            float[] kr = new float[p];
            float[] vr = new float[p];
            float[] gk = new float[p];
            float[] gv = new float[p];
            for (int task = lo; task < hi; task++) {
                int j = task % m.tk();
                int g = (task / m.tk()) % m.kv();
                int bb = task / (m.tk() * m.kv());
                long ko = m.kOff(bb, j, g) * 4;
                MemorySegment.copy(k, Buf.F32, ko, kr, 0, p);
                MemorySegment.copy(v, Buf.F32, ko, vr, 0, p);
                java.util.Arrays.fill(gk, 0f);
                java.util.Arrays.fill(gv, 0f);
                for (int hh = g * group; hh < (g + 1) * group; hh++) {
                    for (int i = Math.max(0, j - offset); i < m.tq(); i++) {
                        int row = (bb * m.h() + hh) * m.tq() + i;
                        long qo = m.qOff(bb, i, hh) * 4;
                        float pj = (float) Math.exp(sc * dot(kr, q, qo, p) - lse.getAtIndex(Buf.F32, row));
                        float ds = pj * (dot(vr, dO, qo, p) - drow[row]);
                        axpy(pj, dO, qo, gv, p);
                        axpy(sc * ds, q, qo, gk, p);
                    }
                }
                if (dk != null) {
                    MemorySegment.copy(gk, 0, dk, Buf.F32, ko, p);
                }
                if (dv != null) {
                    MemorySegment.copy(gv, 0, dv, Buf.F32, ko, p);
                }
            }
        });
    }
}
