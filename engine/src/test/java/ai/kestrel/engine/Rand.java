package ai.kestrel.engine;

import java.util.SplittableRandom;

/** Seeded random tensors for engine tests (never all zeros). */
public final class Rand {
    private Rand() {
    }

    /** F64 tensor with N(0, scale^2) entries, nudged away from 0. */
    public static Tensor normal64(SplittableRandom rnd, double scale, long... shape) {
        Tensor t = Tensor.zeros(DType.F64, shape);
        for (long i = 0; i < t.numel(); i++) {
            double g = gaussian(rnd) * scale;
            if (Math.abs(g) < 1e-3 * scale) {
                g = 1e-3 * scale;
            }
            t.setDouble(i, g);
        }
        return t;
    }

    /** F32 tensor with N(0, scale^2) entries. */
    public static Tensor normal32(SplittableRandom rnd, double scale, long... shape) {
        Tensor t = Tensor.zeros(DType.F32, shape);
        for (long i = 0; i < t.numel(); i++) {
            t.setDouble(i, gaussian(rnd) * scale + 1e-4);
        }
        return t;
    }

    /** F64 tensor with entries uniform in [lo, hi). */
    public static Tensor uniform64(SplittableRandom rnd, double lo, double hi, long... shape) {
        Tensor t = Tensor.zeros(DType.F64, shape);
        for (long i = 0; i < t.numel(); i++) {
            t.setDouble(i, lo + (hi - lo) * rnd.nextDouble());
        }
        return t;
    }

    public static double gaussian(SplittableRandom rnd) {
        return Math.sqrt(-2 * Math.log(1 - rnd.nextDouble())) * Math.cos(2 * Math.PI * rnd.nextDouble());
    }
}
