package ai.kestrel.kernels;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * The one float vector species every {@code *Cpu} kernel uses.
 *
 * <p>Chosen once, at class initialisation, from the system property {@code kestrel.vector.bits}
 * (128, 256 or 512; default: the platform's preferred width), so tests can force each width on one host.
 * Idiom: {@code for (; i < F.loopBound(n); i += F.length())} over vectors, then the scalar tail.
 *
 * <p>It also holds the kernels' horizontal sum and transcendental functions. The Vector API's own
 * {@code reduceLanes(ADD)}, {@code EXP} and {@code LOG1P} round differently when a method runs compiled by C2
 * (tree reductions, SVML) than before (sequential sums, {@code Math} per lane), so a kernel's bits would
 * depend on the JIT's progress and on which thread ran which part. {@link #sum}, {@link #exp} and
 * {@link #softplus} use only lane-wise adds, multiplies, fused multiply-adds, shuffles and bit operations,
 * which every tier computes identically: the results are reproducible from the first call on.
 */
public final class Vec {
    /** The property that selects the vector width in bits. */
    public static final String WIDTH_PROPERTY = "kestrel.vector.bits";

    /** The float species of the configured width. */
    public static final VectorSpecies<Float> F = species(System.getProperty(WIDTH_PROPERTY));

    /** Lanes of {@link #F}. */
    public static final int LANES = F.length();

    private static final VectorShuffle<Float> FOLD8 = fold(8);
    private static final VectorShuffle<Float> FOLD4 = fold(4);
    private static final VectorShuffle<Float> FOLD2 = fold(2);
    private static final VectorShuffle<Float> FOLD1 = fold(1);
    private static final float MAGIC = 12582912f; // 1.5 * 2^23: adding it rounds |x| < 2^22 to an integer
    private static final float LOG2E = 1.44269504088896341f;
    private static final float LN2_HI = 0.693359375f;
    private static final float LN2_LO = -2.12194440e-4f;
    private static final float EXP_LO = -87.33f; // below: 0 (float's normal range ends at e^-87.34)
    private static final float EXP_HI = 88.72283f; // above: +infinity

    private Vec() {
    }

    private static VectorShuffle<Float> fold(int half) {
        return half < LANES ? VectorShuffle.iota(F, half, 1, true) : null; // lane i takes lane i + half (wrapping)
    }

    /**
     * The sum of {@code v}'s lanes ({@link #F} species), as a fixed pairwise tree: the same bits in every JIT tier.
     * (The shuffles are separate constants: C2 only compiles a rearrange to one permute when its shuffle is.)
     */
    public static float sum(FloatVector v) {
        if (LANES >= 16) {
            v = v.add(v.rearrange(FOLD8));
        }
        if (LANES >= 8) {
            v = v.add(v.rearrange(FOLD4));
        }
        v = v.add(v.rearrange(FOLD2));
        v = v.add(v.rearrange(FOLD1));
        return v.lane(0);
    }

    /** The sum of the lanes of {@code v} that {@code m} selects. */
    public static float sum(FloatVector v, VectorMask<Float> m) {
        return sum(FloatVector.zero(F).blend(v, m));
    }

    /**
     * {@code e^x} per lane, within 2 ulp of {@code Math.exp} over float's normal range: round {@code x·log2 e}
     * to an integer {@code n}, reduce {@code r = x − n·ln 2} in two parts, a degree-6 polynomial for
     * {@code e^r}, then scale by {@code 2^n} built in the exponent bits. Results below float's normal range
     * are 0, above its largest value +infinity; NaN stays NaN.
     */
    public static FloatVector exp(FloatVector x) {
        FloatVector xc = x.max(EXP_LO).min(EXP_HI);
        FloatVector t = xc.fma(LOG2E, MAGIC);
        FloatVector n = t.sub(MAGIC);
        FloatVector r = n.fma(FloatVector.broadcast(F, -LN2_HI), xc);
        r = n.fma(FloatVector.broadcast(F, -LN2_LO), r);
        FloatVector p = r.fma(1.9875691500e-4f, 1.3981999507e-3f);
        p = p.fma(r, FloatVector.broadcast(F, 8.3334519073e-3f));
        p = p.fma(r, FloatVector.broadcast(F, 4.1665795894e-2f));
        p = p.fma(r, FloatVector.broadcast(F, 1.6666665459e-1f));
        p = p.fma(r, FloatVector.broadcast(F, 5.0000001201e-1f));
        FloatVector y = p.mul(r).fma(r, r).add(1f);
        // 2^n as 2^(n >> 1) * 2^(n - (n >> 1)): both factors stay normal for n in [-126, 128]
        IntVector ni = ((IntVector) t.viewAsIntegralLanes()).sub(0x4B400000);
        IntVector n1 = ni.lanewise(VectorOperators.ASHR, 1);
        IntVector n2 = ni.sub(n1);
        y = y.mul((FloatVector) n1.add(127).lanewise(VectorOperators.LSHL, 23).viewAsFloatingLanes());
        y = y.mul((FloatVector) n2.add(127).lanewise(VectorOperators.LSHL, 23).viewAsFloatingLanes());
        y = y.blend(0f, x.lt(EXP_LO));
        return y.blend(Float.POSITIVE_INFINITY, x.compare(VectorOperators.GT, EXP_HI));
    }

    /**
     * {@code a[j] = e^(a[j] - shift)} for {@code j} in {@code [from, from + n)}, {@code n} a multiple of
     * {@link #LANES}; returns the sum of the new values (a fixed tree per vector, vectors added in order). The loop
     * lives here so that {@link #exp} is inlined into it: called per vector from a large kernel, C2 may leave
     * {@code exp} out of line ("too big" on an AVX2 machine), and then every vector crossing the call is boxed
     * (7.5% of an attention decode step there, 2026-12-01).
     */
    public static float expShiftedSum(float[] a, int from, int n, float shift) {
        FloatVector sum = FloatVector.zero(F);
        for (int j = from; j < from + n; j += LANES) {
            FloatVector e = exp(FloatVector.fromArray(F, a, j).sub(shift));
            e.intoArray(a, j);
            sum = sum.add(e);
        }
        return sum(sum);
    }

    /** {@code ln(1 + y)} for {@code y} in [0, 1] (what {@link #softplus} needs), within a few ulp. */
    static FloatVector log1p01(FloatVector y) {
        FloatVector u = y.add(1f); // in [1, 2]
        IntVector ub = (IntVector) u.viewAsIntegralLanes();
        // u = 2^e * m with m in [1, 2); fold m > sqrt(2) to m / 2 so that m - 1 is in [-0.293, 0.414]
        IntVector e = ub.lanewise(VectorOperators.ASHR, 23).sub(127);
        FloatVector m = (FloatVector) ub.and(0x007FFFFF).or(0x3F800000).viewAsFloatingLanes();
        VectorMask<Float> big = m.compare(VectorOperators.GT, 1.41421356f);
        m = m.blend(m.mul(0.5f), big);
        FloatVector fe = (FloatVector) e.convert(VectorOperators.I2F, 0);
        fe = fe.blend(fe.add(1f), big);
        FloatVector lg = logReduced(m.sub(1f), fe);
        // ln(1 + y) = ln(u) * y / (u - 1) corrects the rounding of 1 + y (exact where u == 1: then it is y)
        FloatVector d = u.sub(1f);
        FloatVector corrected = lg.mul(y).div(d);
        return corrected.blend(y, d.eq(0f));
    }

    /**
     * {@code ln(1 + x) + fe·ln 2} for {@code x} in [-0.293, 0.414]: {@link #log1p01}'s polynomial, a method of
     * its own so that each half stays under HotSpot's inlining size limit for hot calls (325 bytes of bytecode;
     * a vector method that is not inlined boxes its results and runs many times slower).
     */
    private static FloatVector logReduced(FloatVector x, FloatVector fe) {
        FloatVector z = x.mul(x);
        FloatVector p = x.fma(7.0376836292e-2f, -1.1514610310e-1f);
        p = p.fma(x, FloatVector.broadcast(F, 1.1676998740e-1f));
        p = p.fma(x, FloatVector.broadcast(F, -1.2420140846e-1f));
        p = p.fma(x, FloatVector.broadcast(F, 1.4249322787e-1f));
        p = p.fma(x, FloatVector.broadcast(F, -1.6668057665e-1f));
        p = p.fma(x, FloatVector.broadcast(F, 2.0000714765e-1f));
        p = p.fma(x, FloatVector.broadcast(F, -2.4999993993e-1f));
        p = p.fma(x, FloatVector.broadcast(F, 3.3333331174e-1f));
        FloatVector lg = p.mul(x).mul(z);
        lg = fe.fma(FloatVector.broadcast(F, LN2_LO), lg);
        lg = z.fma(FloatVector.broadcast(F, -0.5f), lg);
        lg = x.add(lg);
        lg = fe.fma(FloatVector.broadcast(F, LN2_HI), lg);
        return lg;
    }

    /** {@code ln(1 + e^x)} per lane, computed as {@code max(x, 0) + ln(1 + e^-|x|)}: no overflow, no cancellation. */
    public static FloatVector softplus(FloatVector x) {
        return softplusFromExp(x, exp(x.abs().neg()));
    }

    /**
     * {@link #softplus} given {@code e = e^-|x|} computed beforehand. Loops over many values should compute
     * {@code e} in one pass and this in a second: with both in one loop body, C2's per-method node budget runs
     * out before everything is inlined, and a vector method that is not inlined boxes its results (measured:
     * 5-10x slower).
     */
    public static FloatVector softplusFromExp(FloatVector x, FloatVector e) {
        return x.max(0f).add(log1p01(e));
    }

    /** {@code 1 / (1 + e^-x)} per lane. */
    public static FloatVector sigmoid(FloatVector x) {
        return FloatVector.broadcast(F, 1f).div(exp(x.neg()).add(1f));
    }

    static VectorSpecies<Float> species(String bits) {
        if (bits == null || bits.isBlank()) {
            return FloatVector.SPECIES_PREFERRED;
        }
        return switch (bits.trim()) {
            case "128" -> FloatVector.SPECIES_128;
            case "256" -> FloatVector.SPECIES_256;
            case "512" -> FloatVector.SPECIES_512;
            default -> throw new IllegalArgumentException(WIDTH_PROPERTY + " must be 128, 256 or 512, got '" + bits + "'");
        };
    }
}
