package ai.kestrel.kernels;

import static org.junit.jupiter.api.Assertions.fail;

import java.lang.foreign.Arena;
import java.util.SplittableRandom;

/**
 * Helpers for twin tests ({@code *Cpu} against {@code *Ref}): seeded random data that is never zero, and a
 * comparison that names the case, the worst index and its error when it fails.
 */
public final class Twin {
    /** Widths that are not multiples of any vector length, plus one just past a power of two. */
    public static final int[] ODD_WIDTHS = {1, 7, 33, 4097};

    private Twin() {
    }

    /** N(0,1) samples, each nudged away from zero so no element is exactly 0. */
    public static float[] normal(SplittableRandom rnd, int n, double scale) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            double g = gaussian(rnd) * scale;
            if (Math.abs(g) < 1e-3 * scale) {
                g = (g < 0 ? -1e-3 : 1e-3) * scale;
            }
            v[i] = (float) g;
        }
        return v;
    }

    /**
     * Uniform samples in {@code [lo, hi)}, none within {@code 1e-3 * (hi - lo)} of zero (so none exactly 0): such a
     * draw is drawn again, which leaves the rest of the interval uniform.
     */
    public static float[] uniform(SplittableRandom rnd, int n, double lo, double hi) {
        float[] v = new float[n];
        double near = 1e-3 * (hi - lo);
        for (int i = 0; i < n; i++) {
            float u;
            do {
                u = (float) (lo + (hi - lo) * rnd.nextDouble());
            } while (Math.abs(u) < near);
            v[i] = u;
        }
        return v;
    }

    public static double gaussian(SplittableRandom rnd) {
        // Box-Muller; SplittableRandom has no nextGaussian on every JDK we might meet.
        double u1 = rnd.nextDouble();
        double u2 = rnd.nextDouble();
        return Math.sqrt(-2 * Math.log(1 - u1)) * Math.cos(2 * Math.PI * u2);
    }

    /** A float32 buffer in {@code arena} with {@link #normal} data. */
    public static Buf randn(Arena arena, SplittableRandom rnd, int n) {
        return Buf.ofF32(arena, normal(rnd, n, 1.0));
    }

    /** A float32 buffer in {@code arena} with {@link #normal} data times {@code scale}. */
    public static Buf randn(Arena arena, SplittableRandom rnd, int n, double scale) {
        return Buf.ofF32(arena, normal(rnd, n, scale));
    }

    /**
     * A float32 buffer of {@code n} NaNs: the starting value of an output a kernel must overwrite, so that an element
     * it skips, or adds into instead of writing, is still NaN afterwards ({@link #assertWritten} fails on it).
     */
    public static Buf nans(Arena arena, long n) {
        Buf b = Buf.allocF32(arena, n);
        b.fill(Float.NaN);
        return b;
    }

    /**
     * {@link #assertClose} for an output that both kernels must overwrite, each given it as {@link #nans}: first fails
     * on any element either left NaN, naming which kernel, so that two kernels that skip the same element (NaN
     * equals NaN to {@code assertClose}) do not pass.
     */
    public static void assertWritten(String what, Buf expected, Buf actual, double atol, double rtol) {
        for (long i = 0; i < expected.length(); i++) {
            String left = Double.isNaN(expected.get(i)) ? "the reference" : Double.isNaN(actual.get(i)) ? "the kernel under test" : null;
            if (left != null) {
                fail(String.format("%s: index %d is still NaN in what %s wrote: an output it must overwrite was skipped or added into",
                        what, i, left));
            }
        }
        assertClose(what, expected, actual, atol, rtol);
    }

    /**
     * Asserts {@code |actual - expected| <= atol + rtol * |expected|} element-wise over the first {@code n}
     * elements; on failure reports {@code what} (which should carry seed and shape), the worst index, both
     * values and the max abs difference.
     */
    public static void assertClose(String what, Buf expected, Buf actual, long n, double atol, double rtol) {
        long worst = -1;
        double worstExcess = 0;
        double maxAbs = 0;
        for (long i = 0; i < n; i++) {
            double e = expected.get(i);
            double a = actual.get(i);
            double diff = Math.abs(a - e);
            if (Double.isNaN(a) != Double.isNaN(e)) {
                diff = Double.POSITIVE_INFINITY;
            }
            maxAbs = Math.max(maxAbs, diff);
            double excess = diff - (atol + rtol * Math.abs(e));
            if (excess > worstExcess || (excess > 0 && worst < 0)) {
                worstExcess = excess;
                worst = i;
            }
        }
        if (worst >= 0) {
            fail(String.format("%s: index %d expected %.9g got %.9g (max abs diff %.3g, atol %.1g rtol %.1g)",
                    what, worst, expected.get(worst), actual.get(worst), maxAbs, atol, rtol));
        }
    }

    /** {@link #assertClose(String, Buf, Buf, long, double, double)} over the whole of {@code expected}. */
    public static void assertClose(String what, Buf expected, Buf actual, double atol, double rtol) {
        assertClose(what, expected, actual, expected.length(), atol, rtol);
    }
}
