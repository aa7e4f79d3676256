package ai.kestrel.kernels.norm;

import ai.kestrel.kernels.Vec;
import static ai.kestrel.kernels.Vec.F;

import ai.kestrel.kernels.Buf;
import ai.kestrel.kernels.Parallel;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

/** Vector API {@link RmsNorm}: rows in parallel, float32 with float32 lane sums. */
final class RmsNormCpu implements RmsNorm {
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    @Override
    public void forward(Buf xb, Buf wb, Buf yb, Buf rstdb, int rows, int d, float eps) {
        long n = (long) rows * d;
        MemorySegment x = xb.requireF32("x", n).seg();
        MemorySegment w = wb.requireF32("w", d).seg();
        MemorySegment y = yb.requireF32("y", n).seg();
        MemorySegment rstd = rstdb == null ? null : rstdb.requireF32("rstd", rows).seg();
        Parallel.range(rows, Math.max(1, 16384 / Math.max(1, d)), (lo, hi) -> {
            for (int r = lo; r < hi; r++) {
                long o = (long) r * d * 4;
                float rs = (float) (1.0 / Math.sqrt(sumSquares(x, o, d) / d + eps));
                if (rstd != null) {
                    rstd.setAtIndex(Buf.F32, r, rs);
                }
                int i = 0;
                for (int bound = F.loopBound(d); i < bound; i += F.length()) {
                    FloatVector xv = FloatVector.fromMemorySegment(F, x, o + i * 4L, LE);
                    FloatVector wv = FloatVector.fromMemorySegment(F, w, i * 4L, LE);
                    xv.mul(rs).mul(wv).intoMemorySegment(y, o + i * 4L, LE);
                }
                for (; i < d; i++) {
                    y.set(Buf.F32, o + i * 4L, w.getAtIndex(Buf.F32, i) * (x.get(Buf.F32, o + i * 4L) * rs));
                }
            }
        });
    }

    /** Sum of squares of {@code d} floats from byte offset {@code o}, in double across lanes. */
    static double sumSquares(MemorySegment x, long o, int d) {
        FloatVector acc = FloatVector.zero(F);
        int i = 0;
        for (int bound = F.loopBound(d); i < bound; i += F.length()) {
            FloatVector v = FloatVector.fromMemorySegment(F, x, o + i * 4L, LE);
            acc = v.fma(v, acc);
        }
        double ss = Vec.sum(acc);
        for (; i < d; i++) {
            float v = x.get(Buf.F32, o + i * 4L);
            ss += v * v;
        }
        return ss;
    }

    @Override
    public void backward(Buf dyb, Buf xb, Buf wb, Buf rstdb, Buf dxb, Buf dwb, int rows, int d) {
        long n = (long) rows * d;
        MemorySegment dy = dyb.requireF32("dy", n).seg();
        MemorySegment x = xb.requireF32("x", n).seg();
        MemorySegment w = wb.requireF32("w", d).seg();
        MemorySegment rstd = rstdb.requireF32("rstd", rows).seg();
        if (dxb != null) {
            MemorySegment dx = dxb.requireF32("dx", n).seg();
            Parallel.range(rows, Math.max(1, 8192 / Math.max(1, d)), (lo, hi) -> {
                for (int r = lo; r < hi; r++) {
                    long o = (long) r * d * 4;
                    float rs = rstd.getAtIndex(Buf.F32, r);
                    FloatVector acc = FloatVector.zero(F);
                    int i = 0;
                    int bound = F.loopBound(d);
                    for (; i < bound; i += F.length()) {
                        FloatVector g = FloatVector.fromMemorySegment(F, dy, o + i * 4L, LE);
                        FloatVector xv = FloatVector.fromMemorySegment(F, x, o + i * 4L, LE);
                        FloatVector wv = FloatVector.fromMemorySegment(F, w, i * 4L, LE);
                        acc = g.mul(wv).fma(xv, acc);
                    }
                    double dot = Vec.sum(acc);
                    for (int j = i; j < d; j++) {
                        dot += (double) w.getAtIndex(Buf.F32, j) * dy.get(Buf.F32, o + j * 4L) * x.get(Buf.F32, o + j * 4L);
                    }
                    float c = (float) (rs * (double) rs * rs * dot / d);
                    for (i = 0; i < bound; i += F.length()) {
                        FloatVector g = FloatVector.fromMemorySegment(F, dy, o + i * 4L, LE);
                        FloatVector xv = FloatVector.fromMemorySegment(F, x, o + i * 4L, LE);
                        FloatVector wv = FloatVector.fromMemorySegment(F, w, i * 4L, LE);
                        g.mul(wv).mul(rs).sub(xv.mul(c)).intoMemorySegment(dx, o + i * 4L, LE);
                    }
                    for (; i < d; i++) {
                        float g = dy.get(Buf.F32, o + i * 4L);
                        float xi = x.get(Buf.F32, o + i * 4L);
                        dx.set(Buf.F32, o + i * 4L, rs * w.getAtIndex(Buf.F32, i) * g - c * xi);
                    }
                }
            });
        }
        if (dwb != null) {
            MemorySegment dw = dwb.requireF32("dw", d).seg();
            // Columns in parallel, so every thread owns its slice of dw: no reduction across threads.
            int colGrain = Math.max(F.length(), 1024);
            Parallel.range((d + colGrain - 1) / colGrain, 1, (clo, chi) -> {
                int c0 = clo * colGrain;
                int c1 = Math.min(d, chi * colGrain);
                for (int r = 0; r < rows; r++) {
                    long o = (long) r * d * 4;
                    float rs = rstd.getAtIndex(Buf.F32, r);
                    int i = c0;
                    for (int bound = c0 + F.loopBound(c1 - c0); i < bound; i += F.length()) {
                        FloatVector g = FloatVector.fromMemorySegment(F, dy, o + i * 4L, LE);
                        FloatVector xv = FloatVector.fromMemorySegment(F, x, o + i * 4L, LE);
                        FloatVector acc = FloatVector.fromMemorySegment(F, dw, i * 4L, LE);
                        g.mul(xv).mul(rs).add(acc).intoMemorySegment(dw, i * 4L, LE);
                    }
                    for (; i < c1; i++) {
                        float v = dw.getAtIndex(Buf.F32, i) + dy.get(Buf.F32, o + i * 4L) * x.get(Buf.F32, o + i * 4L) * rs;
                        dw.setAtIndex(Buf.F32, i, v);
                    }
                }
            });
        }
    }
}
