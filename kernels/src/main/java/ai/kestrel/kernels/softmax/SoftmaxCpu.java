package ai.kestrel.kernels.softmax;

import ai.kestrel.kernels.Vec;
import static ai.kestrel.kernels.Vec.F;

import ai.kestrel.kernels.Buf;
import ai.kestrel.kernels.Parallel;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

/** Vector API {@link Softmax}: three passes per row (max, exp and sum, scale), rows in parallel. */
final class SoftmaxCpu implements Softmax {
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    @Override
    public void forward(Buf xb, Buf yb, int rows, int d) {
        long n = (long) rows * d;
        MemorySegment x = xb.requireF32("x", n).seg();
        MemorySegment y = yb.requireF32("y", n).seg();
        Parallel.range(rows, Math.max(1, 8192 / Math.max(1, d)), (lo, hi) -> {
            for (int r = lo; r < hi; r++) {
                long o = (long) r * d * 4;
                FloatVector mv = FloatVector.broadcast(F, Float.NEGATIVE_INFINITY);
                int i = 0;
                int bound = F.loopBound(d);
                for (; i < bound; i += F.length()) {
                    mv = mv.max(FloatVector.fromMemorySegment(F, x, o + i * 4L, LE));
                }
                float max = mv.reduceLanes(VectorOperators.MAX);
                for (; i < d; i++) {
                    max = Math.max(max, x.get(Buf.F32, o + i * 4L));
                }
                FloatVector sv = FloatVector.zero(F);
                for (i = 0; i < bound; i += F.length()) {
                    FloatVector e = Vec.exp(FloatVector.fromMemorySegment(F, x, o + i * 4L, LE).sub(max));
                    e.intoMemorySegment(y, o + i * 4L, LE);
                    sv = sv.add(e);
                }
                double sum = Vec.sum(sv);
                for (; i < d; i++) {
                    float e = (float) Math.exp(x.get(Buf.F32, o + i * 4L) - max);
                    y.set(Buf.F32, o + i * 4L, e);
                    sum += e;
                }
                float inv = (float) (1.0 / sum);
                for (i = 0; i < bound; i += F.length()) {
                    FloatVector.fromMemorySegment(F, y, o + i * 4L, LE).mul(inv).intoMemorySegment(y, o + i * 4L, LE);
                }
                for (; i < d; i++) {
                    y.set(Buf.F32, o + i * 4L, y.get(Buf.F32, o + i * 4L) * inv);
                }
            }
        });
    }

    @Override
    public void backward(Buf dyb, Buf yb, Buf dxb, int rows, int d) {
        long n = (long) rows * d;
        MemorySegment dy = dyb.requireF32("dy", n).seg();
        MemorySegment y = yb.requireF32("y", n).seg();
        MemorySegment dx = dxb.requireF32("dx", n).seg();
        Parallel.range(rows, Math.max(1, 8192 / Math.max(1, d)), (lo, hi) -> {
            for (int r = lo; r < hi; r++) {
                long o = (long) r * d * 4;
                FloatVector acc = FloatVector.zero(F);
                int i = 0;
                int bound = F.loopBound(d);
                for (; i < bound; i += F.length()) {
                    acc = FloatVector.fromMemorySegment(F, dy, o + i * 4L, LE).fma(FloatVector.fromMemorySegment(F, y, o + i * 4L, LE), acc);
                }
                double dot = Vec.sum(acc);
                for (; i < d; i++) {
                    dot += dy.get(Buf.F32, o + i * 4L) * y.get(Buf.F32, o + i * 4L);
                }
                float dt = (float) dot;
                for (i = 0; i < bound; i += F.length()) {
                    FloatVector yv = FloatVector.fromMemorySegment(F, y, o + i * 4L, LE);
                    yv.mul(FloatVector.fromMemorySegment(F, dy, o + i * 4L, LE).sub(dt)).intoMemorySegment(dx, o + i * 4L, LE);
                }
                for (; i < d; i++) {
                    dx.set(Buf.F32, o + i * 4L, y.get(Buf.F32, o + i * 4L) * (dy.get(Buf.F32, o + i * 4L) - dt));
                }
            }
        });
    }
}
