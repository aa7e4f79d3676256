package ai.kestrel.kernels.loss;

import ai.kestrel.kernels.Vec;
import static ai.kestrel.kernels.Vec.F;

import ai.kestrel.kernels.Buf;
import ai.kestrel.kernels.Parallel;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import java.util.concurrent.atomic.AtomicInteger;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

/**
 * Vector API {@link CrossEntropy}. Forward reads each row of logits once: per lane a running max and a sum
 * rescaled whenever the max grows (online softmax), merged across lanes at the end. Backward reads the
 * row again and writes the gradient. Bandwidth-bound at a 65K vocabulary.
 */
final class CrossEntropyCpu implements CrossEntropy {
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    // Each loop with a Vec.exp call sits in a method of its own: a method body holding two of them exhausts
    // C2's node budget before both are inlined, and a vector method that is not inlined boxes (5-10x slower).

    /** The largest of the {@code v} floats at byte {@code o}. */
    private static float rowMax(MemorySegment x, long o, int v) {
        FloatVector mv = FloatVector.broadcast(F, Float.NEGATIVE_INFINITY);
        int i = 0;
        for (int bound = F.loopBound(v); i < bound; i += F.length()) {
            mv = mv.max(FloatVector.fromMemorySegment(F, x, o + i * 4L, LE));
        }
        float max = mv.reduceLanes(VectorOperators.MAX);
        for (; i < v; i++) {
            max = Math.max(max, x.get(Buf.F32, o + i * 4L));
        }
        return max;
    }

    /** {@code sum_i e^(x_i - max)} over the {@code v} floats at byte {@code o}. */
    private static double rowSumExp(MemorySegment x, long o, int v, float max) {
        FloatVector sv = FloatVector.zero(F);
        int i = 0;
        for (int bound = F.loopBound(v); i < bound; i += F.length()) {
            sv = sv.add(Vec.exp(FloatVector.fromMemorySegment(F, x, o + i * 4L, LE).sub(max)));
        }
        double sum = Vec.sum(sv);
        for (; i < v; i++) {
            sum += Math.exp(x.get(Buf.F32, o + i * 4L) - max);
        }
        return sum;
    }

    /** {@code dl_i = s * e^(x_i - l)} over the {@code v} floats at byte {@code o}. */
    private static void expScaled(MemorySegment x, long o, int v, float l, float s, MemorySegment dl) {
        int i = 0;
        for (int bound = F.loopBound(v); i < bound; i += F.length()) {
            Vec.exp(FloatVector.fromMemorySegment(F, x, o + i * 4L, LE).sub(l)).mul(s)
                    .intoMemorySegment(dl, o + i * 4L, LE);
        }
        for (; i < v; i++) {
            dl.set(Buf.F32, o + i * 4L, s * (float) Math.exp(x.get(Buf.F32, o + i * 4L) - l));
        }
    }

    @Override
    public int forward(Buf logitsb, MemorySegment labels, int rows, int v, Buf lossb, Buf lseb) {
        MemorySegment x = logitsb.requireF32("logits", (long) rows * v).seg();
        MemorySegment loss = lossb.requireF32("loss", rows).seg();
        MemorySegment lse = lseb.requireF32("lse", rows).seg();
        for (int r = 0; r < rows; r++) {
            CrossEntropy.label(labels, r, v); // fail before computing anything
        }
        AtomicInteger count = new AtomicInteger();
        Parallel.range(rows, 1, (lo, hi) -> {
            int local = 0;
            for (int r = lo; r < hi; r++) {
                long o = (long) r * v * 4;
                float max = rowMax(x, o, v);
                double sum = rowSumExp(x, o, v, max);
                double l = max + Math.log(sum);
                lse.setAtIndex(Buf.F32, r, (float) l);
                int label = CrossEntropy.label(labels, r, v);
                if (label == IGNORE) {
                    loss.setAtIndex(Buf.F32, r, 0f);
                } else {
                    loss.setAtIndex(Buf.F32, r, (float) (l - x.get(Buf.F32, o + label * 4L)));
                    local++;
                }
            }
            count.addAndGet(local);
        });
        return count.get();
    }

    @Override
    public void backward(Buf logitsb, MemorySegment labels, Buf lseb, double scale, Buf dlb, int rows, int v) {
        MemorySegment x = logitsb.requireF32("logits", (long) rows * v).seg();
        MemorySegment lse = lseb.requireF32("lse", rows).seg();
        MemorySegment dl = dlb.requireF32("dlogits", (long) rows * v).seg();
        float s = (float) scale;
        Parallel.range(rows, 1, (lo, hi) -> {
            for (int r = lo; r < hi; r++) {
                long o = (long) r * v * 4;
                int label = CrossEntropy.label(labels, r, v);
                if (label == IGNORE) {
                    dl.asSlice(o, v * 4L).fill((byte) 0);
                    continue;
                }
                float l = lse.getAtIndex(Buf.F32, r);
                expScaled(x, o, v, l, s, dl);
                dl.set(Buf.F32, o + label * 4L, dl.get(Buf.F32, o + label * 4L) - s);
            }
        });
    }
}
