package ai.kestrel.kernels.attention;

import ai.kestrel.kernels.Vec;
import static ai.kestrel.kernels.Vec.F;

import ai.kestrel.kernels.Buf;
import ai.kestrel.kernels.Parallel;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

/**
 * Vector API {@link Attention} with a streaming softmax (FlashAttention's online rescaling), one query row per
 * task: keys are visited in blocks of {@value #BLOCK}; each block's scores raise the running maximum, the
 * running sum and output accumulator are rescaled to it, and the block's values are added in. No T x T matrix
 * exists at any point; K and V are read where they lie (a cache of any capacity).
 *
 * <p>Backward (FlashAttention-2's split): probabilities are recomputed from the saved log-sum-exp. Pass 1
 * gives {@code dq} row by row; pass 2 gives {@code dk}, {@code dv} key row by key row, summing over the query
 * heads that share the key head, so no two threads write the same row.
 */
final class AttentionCpu implements Attention {
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    static final int BLOCK = 64;

    private static float dot(float[] a, MemorySegment b, long bo, int p) {
        FloatVector acc = FloatVector.zero(F);
        int c = 0;
        for (int bound = F.loopBound(p); c < bound; c += F.length()) {
            acc = FloatVector.fromArray(F, a, c).fma(FloatVector.fromMemorySegment(F, b, bo + c * 4L, LE), acc);
        }
        float s = Vec.sum(acc);
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
        int rows = m.b() * m.h() * m.tq();
        // a row reads up to tk keys and values of p floats: rows over short caches (decoding at the start of a
        // sequence) are too little work to hand to another thread one by one
        int grain = (int) Math.max(1, (64L << 10) / ((long) m.tk() * p));
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

    /** Query rows per task of {@link #forwardBlocked}. */
    static final int QROWS = 4;

    /**
     * The prompt path (at least {@link #QROWS} query rows, head width a multiple of the vector length): each
     * key/value head's keys are first transposed ({@code kt[c][j]}), so that the scores of one query row against
     * a block of one vector's worth of keys are {@code p} broadcast-FMAs with no reduction per key. A task takes
     * {@link #QROWS} query rows of one head: each key vector loaded serves four rows, each value row four output
     * accumulators. The online softmax runs once per block of keys and row (a vector max, a vector exp, a sum),
     * not once per key.
     */
    private static void forwardBlocked(MemorySegment q, MemorySegment k, MemorySegment v, MemorySegment o, MemorySegment lse,
                                       Dims m, float sc) {
        int p = m.p();
        int l = F.length();
        int tk = m.tk();
        int tkPad = (tk + l - 1) / l * l;
        float[][] kt = new float[m.b() * m.kv()][];
        Parallel.range(kt.length, 1, (lo, hi) -> {
            float[] row = new float[p];
            for (int t = lo; t < hi; t++) {
                int bb = t / m.kv();
                int g = t % m.kv();
                float[] a = new float[p * tkPad]; // keys past tk stay zero (their scores are masked)
                for (int j = 0; j < tk; j++) {
                    MemorySegment.copy(k, Buf.F32, m.kOff(bb, j, g) * 4, row, 0, p);
                    for (int c = 0; c < p; c++) {
                        a[c * tkPad + j] = row[c];
                    }
                }
                kt[t] = a;
            }
        });
        int qBlocks = (m.tq() + QROWS - 1) / QROWS;
        long vStride = (long) m.kv() * p * 4; // bytes from one key row to the next
        Parallel.range(m.b() * m.h() * qBlocks, 1, (lo, hi) -> {
            float[] q0 = new float[p], q1 = new float[p], q2 = new float[p], q3 = new float[p];
            float[][] qr = {q0, q1, q2, q3};
            float[] acc = new float[QROWS * p];
            float[] e = new float[QROWS * l];
            float[] max = new float[QROWS];
            float[] sum = new float[QROWS];
            for (int task = lo; task < hi; task++) {
                int qb = task % qBlocks;
                int hh = (task / qBlocks) % m.h();
                int bb = task / (qBlocks * m.h());
                int g = m.kvHead(hh);
                float[] kth = kt[bb * m.kv() + g];
                int i0 = qb * QROWS;
                int nr = Math.min(QROWS, m.tq() - i0); // rows past the end repeat the last; their results are dropped
                for (int r = 0; r < QROWS; r++) {
                    float[] qrow = qr[r];
                    MemorySegment.copy(q, Buf.F32, m.qOff(bb, i0 + Math.min(r, nr - 1), hh) * 4, qrow, 0, p);
                    for (int c = 0; c < p; c++) {
                        qrow[c] *= sc;
                    }
                    max[r] = Float.NEGATIVE_INFINITY;
                    sum[r] = 0;
                }
                java.util.Arrays.fill(acc, 0f);
                int lastAll = m.lastKey(i0 + nr - 1);
                long vRow0 = m.kOff(bb, 0, g) * 4;
                for (int j0 = 0; j0 <= lastAll; j0 += l) {
                    FloatVector s0 = FloatVector.zero(F), s1 = FloatVector.zero(F), s2 = FloatVector.zero(F), s3 = FloatVector.zero(F);
                    for (int c = 0; c < p; c++) {
                        FloatVector kv = FloatVector.fromArray(F, kth, c * tkPad + j0);
                        s0 = kv.fma(FloatVector.broadcast(F, q0[c]), s0);
                        s1 = kv.fma(FloatVector.broadcast(F, q1[c]), s1);
                        s2 = kv.fma(FloatVector.broadcast(F, q2[c]), s2);
                        s3 = kv.fma(FloatVector.broadcast(F, q3[c]), s3);
                    }
                    softmaxBlock(s0, 0, j0, m.lastKey(i0 + Math.min(0, nr - 1)), max, sum, acc, e, p);
                    softmaxBlock(s1, 1, j0, m.lastKey(i0 + Math.min(1, nr - 1)), max, sum, acc, e, p);
                    softmaxBlock(s2, 2, j0, m.lastKey(i0 + Math.min(2, nr - 1)), max, sum, acc, e, p);
                    softmaxBlock(s3, 3, j0, m.lastKey(i0 + Math.min(3, nr - 1)), max, sum, acc, e, p);
                    int n = Math.min(l, lastAll + 1 - j0);
                    long vb0 = vRow0 + j0 * vStride;
                    for (int t = 0; t < p; t += l) {
                        FloatVector a0 = FloatVector.fromArray(F, acc, t);
                        FloatVector a1 = FloatVector.fromArray(F, acc, p + t);
                        FloatVector a2 = FloatVector.fromArray(F, acc, 2 * p + t);
                        FloatVector a3 = FloatVector.fromArray(F, acc, 3 * p + t);
                        for (int j = 0; j < n; j++) {
                            FloatVector vv = FloatVector.fromMemorySegment(F, v, vb0 + j * vStride + t * 4L, LE);
                            a0 = vv.fma(FloatVector.broadcast(F, e[j]), a0);
                            a1 = vv.fma(FloatVector.broadcast(F, e[l + j]), a1);
                            a2 = vv.fma(FloatVector.broadcast(F, e[2 * l + j]), a2);
                            a3 = vv.fma(FloatVector.broadcast(F, e[3 * l + j]), a3);
                        }
                        a0.intoArray(acc, t);
                        a1.intoArray(acc, p + t);
                        a2.intoArray(acc, 2 * p + t);
                        a3.intoArray(acc, 3 * p + t);
                    }
                }
                for (int r = 0; r < nr; r++) {
                    float inv = 1f / sum[r];
                    long qo = m.qOff(bb, i0 + r, hh) * 4;
                    for (int c = 0; c < p; c++) {
                        o.set(Buf.F32, qo + c * 4L, acc[r * p + c] * inv);
                    }
                    if (lse != null) {
                        lse.setAtIndex(Buf.F32, ((long) bb * m.h() + hh) * m.tq() + i0 + r, max[r] + (float) Math.log(sum[r]));
                    }
                }
            }
        });
    }

    /**
     * One row's online-softmax step over a block of keys {@code j0..}: scores past {@code last} masked out, the
     * running max raised, the row's accumulator and sum rescaled to it, and the block's weights written to
     * {@code e[r * L ..]} for the value pass.
     */
    private static void softmaxBlock(FloatVector s, int r, int j0, int last, float[] max, float[] sum, float[] acc, float[] e, int p) {
        int l = F.length();
        if (j0 + l - 1 > last) {
            s = s.blend(Float.NEGATIVE_INFINITY, F.indexInRange(j0, last + 1).not());
        }
        float bmax = s.reduceLanes(VectorOperators.MAX);
        float nmax = Math.max(max[r], bmax);
        if (nmax != max[r]) {
            float corr = (float) Math.exp(max[r] - nmax);
            sum[r] *= corr;
            for (int c = r * p, end = c + p; c < end; c += l) {
                FloatVector.fromArray(F, acc, c).mul(corr).intoArray(acc, c);
            }
            max[r] = nmax;
        }
        FloatVector w = s.sub(nmax).lanewise(VectorOperators.EXP);
        sum[r] += w.reduceLanes(VectorOperators.ADD);
        w.intoArray(e, r * l);
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
