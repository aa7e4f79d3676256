package ai.kestrel.kernels.optim;

import ai.kestrel.kernels.Vec;
import static ai.kestrel.kernels.Vec.F;

import ai.kestrel.kernels.Buf;
import ai.kestrel.kernels.Parallel;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

/** Vector API {@link AdamW}: float32 state, scalars of the step computed once in double; bandwidth-bound. */
final class AdamWCpu implements AdamW {
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    private static final int CHUNK = 1 << 16;

    @Override
    public void step(Buf pb, Buf gb, Buf mb, Buf vb, long n, double lr, double beta1, double beta2, double eps,
                     double weightDecay, long t) {
        MemorySegment p = pb.requireF32("param", n).seg();
        MemorySegment g = gb.requireF32("grad", n).seg();
        MemorySegment m = mb.requireF32("m", n).seg();
        MemorySegment v = vb.requireF32("v", n).seg();
        float decay = (float) (1 - lr * weightDecay);
        float b1 = (float) beta1;
        float b2 = (float) beta2;
        float c1 = (float) (1 - beta1);
        float c2 = (float) (1 - beta2);
        float stepSize = (float) (lr / (1 - Math.pow(beta1, t)));
        float invBc2Sqrt = (float) (1 / Math.sqrt(1 - Math.pow(beta2, t)));
        float e = (float) eps;
        int chunks = (int) ((n + CHUNK - 1) / CHUNK);
        Parallel.range(chunks, 1, (lo, hi) -> {
            long start = (long) lo * CHUNK;
            long end = Math.min(n, (long) hi * CHUNK);
            long i = start;
            for (long bound = start + F.loopBound(end - start); i < bound; i += F.length()) {
                long o = i * 4;
                FloatVector gv = FloatVector.fromMemorySegment(F, g, o, LE);
                FloatVector mv = FloatVector.fromMemorySegment(F, m, o, LE).mul(b1).add(gv.mul(c1));
                FloatVector vv = FloatVector.fromMemorySegment(F, v, o, LE).mul(b2).add(gv.mul(gv).mul(c2));
                FloatVector denom = vv.lanewise(VectorOperators.SQRT).mul(invBc2Sqrt).add(e);
                FloatVector pv = FloatVector.fromMemorySegment(F, p, o, LE).mul(decay).sub(mv.div(denom).mul(stepSize));
                mv.intoMemorySegment(m, o, LE);
                vv.intoMemorySegment(v, o, LE);
                pv.intoMemorySegment(p, o, LE);
            }
            for (; i < end; i++) {
                long o = i * 4;
                float gi = g.get(Buf.F32, o);
                float mi = b1 * m.get(Buf.F32, o) + c1 * gi;
                float vi = b2 * v.get(Buf.F32, o) + c2 * gi * gi;
                m.set(Buf.F32, o, mi);
                v.set(Buf.F32, o, vi);
                p.set(Buf.F32, o, p.get(Buf.F32, o) * decay - stepSize * mi / ((float) Math.sqrt(vi) * invBc2Sqrt + e));
            }
        });
    }

    /** Per-chunk partial sums added in chunk order, so the result does not depend on thread timing. */
    @Override
    public double sumSquares(Buf gb, long n) {
        MemorySegment g = gb.requireF32("grad", n).seg();
        int chunks = (int) ((n + CHUNK - 1) / CHUNK);
        double[] partial = new double[chunks];
        Parallel.range(chunks, 1, (lo, hi) -> {
            for (int c = lo; c < hi; c++) {
                long start = (long) c * CHUNK;
                long end = Math.min(n, start + CHUNK);
                FloatVector acc = FloatVector.zero(F);
                long i = start;
                for (long bound = start + F.loopBound(end - start); i < bound; i += F.length()) {
                    FloatVector x = FloatVector.fromMemorySegment(F, g, i * 4, LE);
                    acc = x.fma(x, acc);
                }
                double s = Vec.sum(acc);
                for (; i < end; i++) {
                    double x = g.get(Buf.F32, i * 4);
                    s += x * x;
                }
                partial[c] = s;
            }
        });
        double total = 0;
        for (double p : partial) {
            total += p;
        }
        return total;
    }
}
