package ai.kestrel.kernels.ssd;

import static ai.kestrel.kernels.Vec.F;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorSpecies;

/**
 * {@code C (rows, P) += A (rows, K) · B (K, P)} on float arrays with arbitrary strides for A, the shape of
 * every product inside an SSD chunk. Rows in blocks of four and four vectors of P at a time: 16 accumulators,
 * four broadcasts and four loads per reduction step; with fewer than 16 lanes (AVX2: 16 vector registers, which
 * 16 accumulators and their operands overflow) two vectors of P at a time, 8 accumulators, over operands packed
 * first ({@link #SCRATCH}). With {@link #LOWER}, row {@code r} stops at {@code k = r} (A is zero above its
 * diagonal); with {@link #UPPER}, it starts there (A is zero below its diagonal, as a lower-triangular matrix read
 * transposed is): a block of four rows reduces over the union of its rows' ranges, whose extra terms are A's zeros.
 * With {@link #SET} added to the shape, C is written instead of added to ({@code C = A·B}): no zeroing pass first.
 */
final class SmallGemm {
    /** Four floats: one reduction step of a packed quad of A. */
    private static final VectorSpecies<Float> F4 = FloatVector.SPECIES_128;

    /** Every element of A may be non-zero. */
    static final int FULL = 0;
    /** {@code A(r, k) = 0} for {@code k > r}: row {@code r} reduces over {@code k <= r}. */
    static final int LOWER = 1;
    /** {@code A(r, k) = 0} for {@code k < r}: row {@code r} reduces over {@code k >= r}. */
    static final int UPPER = 2;
    /**
     * Added to a shape ({@code FULL | SET}): {@code C = A·B}, C's old values never read (every element of the
     * {@code rows x p} block is written, rows whose reduction range is empty with zeros).
     */
    static final int SET = 4;

    private SmallGemm() {
    }

    /**
     * @param a     element (r, k) at {@code a[ao + r*ars + k*aks]}
     * @param b     row k at {@code b[bo + k*brs]}, P contiguous floats
     * @param c     row r at {@code c[co + r*crs]}, P contiguous floats
     */
    static void run(float[] a, int ao, int ars, int aks, float[] b, int bo, int brs, float[] c, int co, int crs,
                    int rows, int k, int p, int mode) {
        int shape = mode & 3;
        boolean set = (mode & SET) != 0;
        int l = F.length();
        boolean pack = l < 16 && rows >= 4 && p >= 2 * l;
        int w = l >= 16 ? 4 * l : 2 * l; // the columns one blocked kernel call covers
        int whole = l >= 16 || pack ? p / w * w : 0;
        float[] bp = null;
        float[] ap = null;
        if (pack) {
            float[][] s = SCRATCH.get();
            if (s[0].length < whole * k) {
                s[0] = new float[whole * k];
            }
            if (s[1].length < 4 * k) {
                s[1] = new float[4 * k];
            }
            bp = s[0];
            ap = s[1];
            // two vectors at a time (System.arraycopy's call per 2l floats was ~9% of an SSD forward+backward)
            for (int j = 0; j < whole / w; j++) {
                for (int kk = 0; kk < k; kk++) {
                    int from = bo + kk * brs + j * w;
                    int to = (j * k + kk) * w;
                    FloatVector.fromArray(F, b, from).intoArray(bp, to);
                    FloatVector.fromArray(F, b, from + l).intoArray(bp, to + l);
                }
            }
        }
        int r0 = 0;
        for (; r0 + 4 <= rows; r0 += 4) {
            int k0 = shape == UPPER ? Math.min(k, r0) : 0;
            int kc = (shape == LOWER ? Math.min(k, r0 + 4) : k) - k0;
            int ak0 = ao + k0 * aks;
            if (pack) {
                if (ars == 1) {
                    // A transposed: the quad's four values of a reduction step are adjacent
                    for (int kk = 0; kk < kc; kk++) {
                        FloatVector.fromArray(F4, a, ak0 + r0 + kk * aks).intoArray(ap, 4 * kk);
                    }
                } else {
                    for (int kk = 0; kk < kc; kk++) {
                        int at = ak0 + r0 * ars + kk * aks;
                        ap[4 * kk] = a[at];
                        ap[4 * kk + 1] = a[at + ars];
                        ap[4 * kk + 2] = a[at + 2 * ars];
                        ap[4 * kk + 3] = a[at + 3 * ars];
                    }
                }
                for (int j = 0; j < whole / w; j++) {
                    packed4x2(ap, bp, (j * k + k0) * w, c, co + r0 * crs + j * w, crs, kc, set);
                }
            } else {
                for (int c0 = 0; c0 < whole; c0 += w) {
                    block4x4(a, ak0 + r0 * ars, ars, aks, b, bo + k0 * brs + c0, brs, c, co + r0 * crs + c0, crs, kc, set);
                }
            }
            for (int c0 = whole; c0 < p; c0 += l) {
                VectorMask<Float> m = F.indexInRange(c0, p);
                for (int r = r0; r < r0 + 4; r++) {
                    rowRange(a, ao + r * ars, aks, b, bo + c0, brs, c, co + r * crs + c0, r, k, shape, set, m);
                }
            }
        }
        for (int r = r0; r < rows; r++) {
            for (int c0 = 0; c0 < p; c0 += l) {
                rowRange(a, ao + r * ars, aks, b, bo + c0, brs, c, co + r * crs + c0, r, k, shape, set, F.indexInRange(c0, p));
            }
        }
    }

    /** Row {@code r} over the reduction range its {@code shape} gives it. */
    private static void rowRange(float[] a, int ao, int aks, float[] b, int bo, int brs, float[] c, int co, int r, int k, int shape,
            boolean set, VectorMask<Float> m) {
        int k0 = shape == UPPER ? Math.min(k, r) : 0;
        int k1 = shape == LOWER ? Math.min(k, r + 1) : k;
        row(a, ao + k0 * aks, aks, b, bo + k0 * brs, brs, c, co, k1 - k0, set, m);
    }

    /**
     * Per thread, for 8-lane vectors: B's whole blocks of {@code 2 * l} columns and each quad of A's rows copied to
     * unit-stride scratch first ({@code k * p} and {@code 4 * k} floats, against {@code 2 * rows * k * p} flops), so
     * that the kernel's indexes are the loop counter times a constant and C2 drops their bounds checks; with A's and
     * B's strides as variables the strided kernel kept six checks per eight FMAs. One thread, 256 rows, k 256, in
     * one JVM (Zen 3, 2026-12-02): p 64 33.0 -> 41.0 GFLOP/s, lower-triangular 34.4 -> 37.1, p 128 34.8 -> 47.2,
     * A transposed 27.9 -> 40.4 (medians of 30).
     */
    private static final ThreadLocal<float[][]> SCRATCH = ThreadLocal.withInitial(() -> new float[2][0]);

    /**
     * Four rows by two vectors of P (8 accumulators: with fewer than 16 lanes, AVX2's 16 vector registers hold no
     * more with their operands) over packed operands: A's quad as {@code ap[4 * k + r]}, B's block as
     * {@code bp[bo + 2l * k + i]}.
     */
    private static void packed4x2(float[] ap, float[] bp, int bo, float[] c, int co, int crs, int kc, boolean set) {
        int l = F.length();
        int w = 2 * l;
        FloatVector c00 = start(c, co, set), c01 = start(c, co + l, set);
        FloatVector c10 = start(c, co + crs, set), c11 = start(c, co + crs + l, set);
        FloatVector c20 = start(c, co + 2 * crs, set), c21 = start(c, co + 2 * crs + l, set);
        FloatVector c30 = start(c, co + 3 * crs, set), c31 = start(c, co + 3 * crs + l, set);
        for (int kk = 0; kk < kc; kk++) {
            FloatVector b0 = FloatVector.fromArray(F, bp, bo + kk * w);
            FloatVector b1 = FloatVector.fromArray(F, bp, bo + kk * w + l);
            FloatVector x = FloatVector.broadcast(F, ap[4 * kk]);
            c00 = b0.fma(x, c00);
            c01 = b1.fma(x, c01);
            x = FloatVector.broadcast(F, ap[4 * kk + 1]);
            c10 = b0.fma(x, c10);
            c11 = b1.fma(x, c11);
            x = FloatVector.broadcast(F, ap[4 * kk + 2]);
            c20 = b0.fma(x, c20);
            c21 = b1.fma(x, c21);
            x = FloatVector.broadcast(F, ap[4 * kk + 3]);
            c30 = b0.fma(x, c30);
            c31 = b1.fma(x, c31);
        }
        c00.intoArray(c, co);
        c01.intoArray(c, co + l);
        c10.intoArray(c, co + crs);
        c11.intoArray(c, co + crs + l);
        c20.intoArray(c, co + 2 * crs);
        c21.intoArray(c, co + 2 * crs + l);
        c30.intoArray(c, co + 3 * crs);
        c31.intoArray(c, co + 3 * crs + l);
    }

    /** An accumulator's first value: C's vector at {@code co}, or zero when C is being set. */
    private static FloatVector start(float[] c, int co, boolean set) {
        return set ? FloatVector.zero(F) : FloatVector.fromArray(F, c, co);
    }

    private static void row(float[] a, int ao, int aks, float[] b, int bo, int brs, float[] c, int co, int kc, boolean set,
            VectorMask<Float> m) {
        FloatVector acc = set ? FloatVector.zero(F) : FloatVector.fromArray(F, c, co, m);
        for (int kk = 0; kk < kc; kk++) {
            acc = FloatVector.fromArray(F, b, bo + kk * brs, m).fma(FloatVector.broadcast(F, a[ao + kk * aks]), acc);
        }
        acc.intoArray(c, co, m);
    }

    private static void block4x4(float[] a, int ao, int ars, int aks, float[] b, int bo, int brs, float[] c, int co, int crs, int kc,
                                 boolean set) {
        int l = F.length();
        FloatVector c00 = start(c, co, set), c01 = start(c, co + l, set);
        FloatVector c02 = start(c, co + 2 * l, set), c03 = start(c, co + 3 * l, set);
        FloatVector c10 = start(c, co + crs, set), c11 = start(c, co + crs + l, set);
        FloatVector c12 = start(c, co + crs + 2 * l, set), c13 = start(c, co + crs + 3 * l, set);
        FloatVector c20 = start(c, co + 2 * crs, set), c21 = start(c, co + 2 * crs + l, set);
        FloatVector c22 = start(c, co + 2 * crs + 2 * l, set), c23 = start(c, co + 2 * crs + 3 * l, set);
        FloatVector c30 = start(c, co + 3 * crs, set), c31 = start(c, co + 3 * crs + l, set);
        FloatVector c32 = start(c, co + 3 * crs + 2 * l, set), c33 = start(c, co + 3 * crs + 3 * l, set);
        for (int kk = 0; kk < kc; kk++) {
            int bk = bo + kk * brs;
            int ak = ao + kk * aks;
            FloatVector b0 = FloatVector.fromArray(F, b, bk);
            FloatVector b1 = FloatVector.fromArray(F, b, bk + l);
            FloatVector b2 = FloatVector.fromArray(F, b, bk + 2 * l);
            FloatVector b3 = FloatVector.fromArray(F, b, bk + 3 * l);
            FloatVector x = FloatVector.broadcast(F, a[ak]);
            c00 = b0.fma(x, c00);
            c01 = b1.fma(x, c01);
            c02 = b2.fma(x, c02);
            c03 = b3.fma(x, c03);
            x = FloatVector.broadcast(F, a[ak + ars]);
            c10 = b0.fma(x, c10);
            c11 = b1.fma(x, c11);
            c12 = b2.fma(x, c12);
            c13 = b3.fma(x, c13);
            x = FloatVector.broadcast(F, a[ak + 2 * ars]);
            c20 = b0.fma(x, c20);
            c21 = b1.fma(x, c21);
            c22 = b2.fma(x, c22);
            c23 = b3.fma(x, c23);
            x = FloatVector.broadcast(F, a[ak + 3 * ars]);
            c30 = b0.fma(x, c30);
            c31 = b1.fma(x, c31);
            c32 = b2.fma(x, c32);
            c33 = b3.fma(x, c33);
        }
        c00.intoArray(c, co);
        c01.intoArray(c, co + l);
        c02.intoArray(c, co + 2 * l);
        c03.intoArray(c, co + 3 * l);
        c10.intoArray(c, co + crs);
        c11.intoArray(c, co + crs + l);
        c12.intoArray(c, co + crs + 2 * l);
        c13.intoArray(c, co + crs + 3 * l);
        c20.intoArray(c, co + 2 * crs);
        c21.intoArray(c, co + 2 * crs + l);
        c22.intoArray(c, co + 2 * crs + 2 * l);
        c23.intoArray(c, co + 2 * crs + 3 * l);
        c30.intoArray(c, co + 3 * crs);
        c31.intoArray(c, co + 3 * crs + l);
        c32.intoArray(c, co + 3 * crs + 2 * l);
        c33.intoArray(c, co + 3 * crs + 3 * l);
    }
}
