package ai.kestrel.kernels.elementwise;

import ai.kestrel.kernels.Vec;
import static ai.kestrel.kernels.Vec.F;

import ai.kestrel.kernels.Buf;
import ai.kestrel.kernels.Parallel;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.LongVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/** Vector API {@link Elementwise}: float32, split into chunks of at least {@value #GRAIN} elements per thread. */
final class ElementwiseCpu implements Elementwise {
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    /** Elements per parallel chunk: below this, threads cost more than they save. */
    static final int GRAIN = 1 << 15;

    @FunctionalInterface
    private interface Span {
        void run(long lo, long hi);
    }

    /** Runs {@code body} over {@code [0, n)} in chunks (aligned to the vector length). */
    private static void chunks(long n, Span body) {
        long chunk = GRAIN;
        int nChunks = (int) ((n + chunk - 1) / chunk);
        Parallel.range(nChunks, 1, (lo, hi) -> body.run(lo * chunk, Math.min(n, hi * chunk)));
    }


    private static float get(MemorySegment s, long i) {
        return s.getAtIndex(Buf.F32, i);
    }

    private static void put(MemorySegment s, long i, float v) {
        s.setAtIndex(Buf.F32, i, v);
    }

    /** 64-bit lanes for the dropout draws, and float lanes as many (half a float vector). */
    private static final VectorSpecies<Long> L = LongVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Float> FL = VectorSpecies.of(float.class, VectorShape.forBitSize(L.length() * 32));

    /**
     * {@link Elementwise#draw} for {@code L.length()} consecutive elements at once, one generator state per 64-bit
     * lane (four with AVX2, whose 64-bit multiply C2 emits as a short sequence), the comparison with {@code p} done on
     * the draws' 53-bit integers
     * ({@code u * 2^-53 < p} exactly when {@code u < ceil(p * 2^53)}). Drawing one element at a time (a scalar
     * 64-bit mix per element) was ~4% of a 0.5B LoRA step's samples.
     */
    @Override
    public void dropout(Buf xb, Buf yb, long n, double p, double scale, long seed) {
        MemorySegment x = xb.requireF32("x", n).seg();
        MemorySegment y = yb.requireF32("y", n).seg();
        float s = (float) scale;
        long threshold = (long) Math.ceil(p * 0x1p53);
        LongVector lanes = LongVector.zero(L).addIndex(1).mul(GOLDEN_GAMMA); // lane j: j * gamma
        LongVector step = LongVector.broadcast(L, L.length() * GOLDEN_GAMMA);
        FloatVector zero = FloatVector.zero(FL);
        chunks(n, (lo, hi) -> {
            long i = lo;
            LongVector state = lanes.add(seed + (lo + 1) * GOLDEN_GAMMA);
            for (long bound = lo + L.loopBound(hi - lo); i < bound; i += L.length()) {
                LongVector z = state;
                z = z.lanewise(VectorOperators.XOR, z.lanewise(VectorOperators.LSHR, 30)).mul(0xbf58476d1ce4e5b9L);
                z = z.lanewise(VectorOperators.XOR, z.lanewise(VectorOperators.LSHR, 27)).mul(0x94d049bb133111ebL);
                z = z.lanewise(VectorOperators.XOR, z.lanewise(VectorOperators.LSHR, 31));
                VectorMask<Float> drop = z.lanewise(VectorOperators.LSHR, 11).compare(VectorOperators.LT, threshold).cast(FL);
                FloatVector.fromMemorySegment(FL, x, i * 4, LE).mul(s).blend(zero, drop).intoMemorySegment(y, i * 4, LE);
                state = state.add(step);
            }
            for (; i < hi; i++) {
                put(y, i, Elementwise.draw(seed, i) < p ? 0f : get(x, i) * s);
            }
        });
    }

    /** sigmoid of a vector, through exp(-x). */
    private static FloatVector sigmoid(FloatVector x) {
        return FloatVector.broadcast(F, 1f).div(Vec.exp(x.neg()).add(1f));
    }

    private static float sigmoid(float x) {
        return 1f / (1f + (float) Math.exp(-x));
    }

    private void binary(Buf ab, Buf bb, Buf outb, int rows, int cols, Broadcast bc, boolean mul) {
        long n = (long) rows * cols;
        MemorySegment a = ab.requireF32("a", n).seg();
        MemorySegment b = bb.requireF32("b", bc.bLength(rows, cols)).seg();
        MemorySegment out = outb.requireF32("out", n).seg();
        if (bc == Broadcast.NONE || bc == Broadcast.SCALAR) {
            float s = bc == Broadcast.SCALAR ? get(b, 0) : 0f;
            chunks(n, (lo, hi) -> {
                long i = lo;
                for (long bound = lo + F.loopBound(hi - lo); i < bound; i += F.length()) {
                    FloatVector av = FloatVector.fromMemorySegment(F, a, i * 4L, LE);
                    FloatVector bv = bc == Broadcast.SCALAR ? FloatVector.broadcast(F, s) : FloatVector.fromMemorySegment(F, b, i * 4L, LE);
                    (mul ? av.mul(bv) : av.add(bv)).intoMemorySegment(out, i * 4, LE);
                }
                for (; i < hi; i++) {
                    float bvv = bc == Broadcast.SCALAR ? s : get(b, i);
                    put(out, i, mul ? get(a, i) * bvv : get(a, i) + bvv);
                }
            });
            return;
        }
        Parallel.range(rows, Math.max(1, GRAIN / Math.max(1, cols)), (lo, hi) -> {
            for (int r = lo; r < hi; r++) {
                long o = (long) r * cols;
                int c = 0;
                if (bc == Broadcast.ROW) {
                    for (int bound = F.loopBound(cols); c < bound; c += F.length()) {
                        FloatVector av = FloatVector.fromMemorySegment(F, a, (o + c) * 4L, LE);
                        FloatVector bv = FloatVector.fromMemorySegment(F, b, c * 4L, LE);
                        (mul ? av.mul(bv) : av.add(bv)).intoMemorySegment(out, (o + c) * 4, LE);
                    }
                    for (; c < cols; c++) {
                        put(out, o + c, mul ? get(a, o + c) * get(b, c) : get(a, o + c) + get(b, c));
                    }
                } else {
                    float s = get(b, r);
                    for (int bound = F.loopBound(cols); c < bound; c += F.length()) {
                        FloatVector av = FloatVector.fromMemorySegment(F, a, (o + c) * 4L, LE);
                        (mul ? av.mul(s) : av.add(s)).intoMemorySegment(out, (o + c) * 4, LE);
                    }
                    for (; c < cols; c++) {
                        put(out, o + c, mul ? get(a, o + c) * s : get(a, o + c) + s);
                    }
                }
            }
        });
    }

    @Override
    public void add(Buf a, Buf b, Buf out, int rows, int cols, Broadcast bc) {
        binary(a, b, out, rows, cols, bc, false);
    }

    @Override
    public void mul(Buf a, Buf b, Buf out, int rows, int cols, Broadcast bc) {
        binary(a, b, out, rows, cols, bc, true);
    }

    @Override
    public void scale(Buf ab, double s, Buf outb, long n) {
        MemorySegment a = ab.requireF32("a", n).seg();
        MemorySegment out = outb.requireF32("out", n).seg();
        float sf = (float) s;
        chunks(n, (lo, hi) -> {
            long i = lo;
            for (long bound = lo + F.loopBound(hi - lo); i < bound; i += F.length()) {
                FloatVector.fromMemorySegment(F, a, i * 4L, LE).mul(sf).intoMemorySegment(out, i * 4, LE);
            }
            for (; i < hi; i++) {
                put(out, i, sf * get(a, i));
            }
        });
    }

    @Override
    public void axpy(double alpha, Buf xb, Buf yb, long n) {
        MemorySegment x = xb.requireF32("x", n).seg();
        MemorySegment y = yb.requireF32("y", n).seg();
        float af = (float) alpha;
        chunks(n, (lo, hi) -> {
            long i = lo;
            for (long bound = lo + F.loopBound(hi - lo); i < bound; i += F.length()) {
                FloatVector.fromMemorySegment(F, x, i * 4L, LE).fma(FloatVector.broadcast(F, af), FloatVector.fromMemorySegment(F, y, i * 4L, LE)).intoMemorySegment(y, i * 4, LE);
            }
            for (; i < hi; i++) {
                put(y, i, get(y, i) + af * get(x, i));
            }
        });
    }

    @Override
    public void silu(Buf xb, Buf yb, long n) {
        MemorySegment x = xb.requireF32("x", n).seg();
        MemorySegment y = yb.requireF32("y", n).seg();
        chunks(n, (lo, hi) -> {
            long i = lo;
            for (long bound = lo + F.loopBound(hi - lo); i < bound; i += F.length()) {
                FloatVector v = FloatVector.fromMemorySegment(F, x, i * 4L, LE);
                v.mul(sigmoid(v)).intoMemorySegment(y, i * 4, LE);
            }
            for (; i < hi; i++) {
                float v = get(x, i);
                put(y, i, v * sigmoid(v));
            }
        });
    }

    @Override
    public void siluBackward(Buf dyb, Buf xb, Buf dxb, long n) {
        MemorySegment dy = dyb.requireF32("dy", n).seg();
        MemorySegment x = xb.requireF32("x", n).seg();
        MemorySegment dx = dxb.requireF32("dx", n).seg();
        chunks(n, (lo, hi) -> {
            long i = lo;
            for (long bound = lo + F.loopBound(hi - lo); i < bound; i += F.length()) {
                FloatVector v = FloatVector.fromMemorySegment(F, x, i * 4L, LE);
                FloatVector s = sigmoid(v);
                FloatVector d = s.mul(v.mul(s.neg().add(1f)).add(1f));
                FloatVector.fromMemorySegment(F, dy, i * 4L, LE).mul(d).intoMemorySegment(dx, i * 4, LE);
            }
            for (; i < hi; i++) {
                float v = get(x, i);
                float s = sigmoid(v);
                put(dx, i, get(dy, i) * s * (1 + v * (1 - s)));
            }
        });
    }

    /** {@code e[j] = e^-|x[i + j]|} for {@code j < len} (a multiple of the vector length). */
    private static void expNegAbs(MemorySegment x, long i, int len, float[] e) {
        for (int j = 0; j < len; j += F.length()) {
            Vec.exp(FloatVector.fromMemorySegment(F, x, (i + j) * 4L, LE).abs().neg()).intoArray(e, j);
        }
    }

    /** {@code y[i + j] = softplus(x[i + j])} from {@code e[j] = e^-|x[i + j]|}; x itself above 20. */
    private static void softplusFromExp(MemorySegment x, long i, int len, float[] e, MemorySegment y) {
        for (int j = 0; j < len; j += F.length()) {
            FloatVector v = FloatVector.fromMemorySegment(F, x, (i + j) * 4L, LE);
            FloatVector sp = Vec.softplusFromExp(v, FloatVector.fromArray(F, e, j));
            sp.blend(v, v.compare(VectorOperators.GT, 20f)).intoMemorySegment(y, (i + j) * 4, LE);
        }
    }

    @Override
    public void softplus(Buf xb, Buf yb, long n) {
        MemorySegment x = xb.requireF32("x", n).seg();
        MemorySegment y = yb.requireF32("y", n).seg();
        chunks(n, (lo, hi) -> {
            long i = lo;
            // two passes per block of 256, in two methods (see Vec.softplusFromExp): e^-|x| into a buffer, then
            // the logarithm
            float[] e = new float[256];
            for (long bound = lo + F.loopBound(hi - lo); i < bound; ) {
                int len = (int) Math.min(e.length, bound - i);
                expNegAbs(x, i, len, e);
                softplusFromExp(x, i, len, e, y);
                i += len;
            }
            for (; i < hi; i++) {
                float v = get(x, i);
                put(y, i, v > 20f ? v : (float) Math.log1p(Math.exp(v)));
            }
        });
    }

    @Override
    public void softplusBackward(Buf dyb, Buf xb, Buf dxb, long n) {
        MemorySegment dy = dyb.requireF32("dy", n).seg();
        MemorySegment x = xb.requireF32("x", n).seg();
        MemorySegment dx = dxb.requireF32("dx", n).seg();
        chunks(n, (lo, hi) -> {
            long i = lo;
            for (long bound = lo + F.loopBound(hi - lo); i < bound; i += F.length()) {
                FloatVector v = FloatVector.fromMemorySegment(F, x, i * 4L, LE);
                FloatVector s = sigmoid(v).blend(1f, v.compare(VectorOperators.GT, 20f));
                FloatVector.fromMemorySegment(F, dy, i * 4L, LE).mul(s).intoMemorySegment(dx, i * 4, LE);
            }
            for (; i < hi; i++) {
                float v = get(x, i);
                put(dx, i, v > 20f ? get(dy, i) : get(dy, i) * sigmoid(v));
            }
        });
    }

    @Override
    public void exp(Buf xb, Buf yb, long n) {
        MemorySegment x = xb.requireF32("x", n).seg();
        MemorySegment y = yb.requireF32("y", n).seg();
        chunks(n, (lo, hi) -> {
            long i = lo;
            for (long bound = lo + F.loopBound(hi - lo); i < bound; i += F.length()) {
                Vec.exp(FloatVector.fromMemorySegment(F, x, i * 4L, LE)).intoMemorySegment(y, i * 4, LE);
            }
            for (; i < hi; i++) {
                put(y, i, (float) Math.exp(get(x, i)));
            }
        });
    }

    @Override
    public void sumRows(Buf xb, Buf outb, int rows, int cols, boolean accumulate) {
        MemorySegment x = xb.requireF32("x", (long) rows * cols).seg();
        MemorySegment out = outb.requireF32("out", cols).seg();
        // Column blocks in parallel: each thread owns its slice of out and sums down the rows in float lanes.
        int colGrain = Math.max(F.length(), 256);
        Parallel.range((cols + colGrain - 1) / colGrain, 1, (blo, bhi) -> {
            int c0 = blo * colGrain;
            int c1 = Math.min(cols, bhi * colGrain);
            int c = c0;
            int l = F.length();
            // four vectors of columns at a time: whole cache lines per row, four independent sums (one vector at a
            // time, each row's line was fetched twice and the adds were one dependent chain)
            for (; c + 4 * l <= c1; c += 4 * l) {
                FloatVector a0 = accumulate ? FloatVector.fromMemorySegment(F, out, c * 4L, LE) : FloatVector.zero(F);
                FloatVector a1 = accumulate ? FloatVector.fromMemorySegment(F, out, (c + l) * 4L, LE) : FloatVector.zero(F);
                FloatVector a2 = accumulate ? FloatVector.fromMemorySegment(F, out, (c + 2 * l) * 4L, LE) : FloatVector.zero(F);
                FloatVector a3 = accumulate ? FloatVector.fromMemorySegment(F, out, (c + 3 * l) * 4L, LE) : FloatVector.zero(F);
                for (long r = 0; r < rows; r++) {
                    long o = (r * cols + c) * 4L;
                    a0 = a0.add(FloatVector.fromMemorySegment(F, x, o, LE));
                    a1 = a1.add(FloatVector.fromMemorySegment(F, x, o + l * 4L, LE));
                    a2 = a2.add(FloatVector.fromMemorySegment(F, x, o + 2 * l * 4L, LE));
                    a3 = a3.add(FloatVector.fromMemorySegment(F, x, o + 3 * l * 4L, LE));
                }
                a0.intoMemorySegment(out, c * 4L, LE);
                a1.intoMemorySegment(out, (c + l) * 4L, LE);
                a2.intoMemorySegment(out, (c + 2 * l) * 4L, LE);
                a3.intoMemorySegment(out, (c + 3 * l) * 4L, LE);
            }
            for (int bound = c + F.loopBound(c1 - c); c < bound; c += l) {
                FloatVector acc = accumulate ? FloatVector.fromMemorySegment(F, out, c * 4L, LE) : FloatVector.zero(F);
                for (long r = 0; r < rows; r++) {
                    acc = acc.add(FloatVector.fromMemorySegment(F, x, (r * cols + c) * 4L, LE));
                }
                acc.intoMemorySegment(out, c * 4L, LE);
            }
            for (; c < c1; c++) {
                float s = accumulate ? get(out, c) : 0f;
                for (long r = 0; r < rows; r++) {
                    s += get(x, r * cols + c);
                }
                put(out, c, s);
            }
        });
    }

    @Override
    public void sumCols(Buf xb, Buf outb, int rows, int cols, boolean accumulate) {
        MemorySegment x = xb.requireF32("x", (long) rows * cols).seg();
        MemorySegment out = outb.requireF32("out", rows).seg();
        Parallel.range(rows, Math.max(1, GRAIN / Math.max(1, cols)), (lo, hi) -> {
            for (int r = lo; r < hi; r++) {
                long o = (long) r * cols;
                FloatVector acc = FloatVector.zero(F);
                int c = 0;
                for (int bound = F.loopBound(cols); c < bound; c += F.length()) {
                    acc = acc.add(FloatVector.fromMemorySegment(F, x, (o + c) * 4L, LE));
                }
                double s = Vec.sum(acc);
                for (; c < cols; c++) {
                    s += get(x, o + c);
                }
                put(out, r, (float) (accumulate ? get(out, r) + s : s));
            }
        });
    }
}
