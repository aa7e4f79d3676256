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
