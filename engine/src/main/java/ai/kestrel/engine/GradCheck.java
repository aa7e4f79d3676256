package ai.kestrel.engine;

import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.TreeSet;
import java.util.function.Function;

/**
 * Checks an op's recorded gradients against central differences, in float64.
 *
 * <p>The op's output {@code y = f(x...)} is reduced to the scalar {@code L = sum(y * R)} with a fixed random
 * {@code R}, so every output element counts. For each input that {@linkplain Tensor#requiresGrad() requires a
 * gradient}, {@code dL/dx_i} from {@link Autograd#backward(Tensor, Tensor)} must equal
 * {@code (L(x_i + h) - L(x_i - h)) / 2h} within {@code atol + rtol * max(|analytic|, |numeric|)}. Large inputs
 * are sampled (up to {@code maxPerInput} elements, first and last always included). Failures throw
 * {@link AssertionError} naming the op, input, element and both values.
 */
public final class GradCheck {
    private final String name;
    private double h = 1e-6;
    private double atol = 1e-7;
    private double rtol = 1e-5;
    private int maxPerInput = 48;
    private long seed = 1234;

    private GradCheck(String name) {
        this.name = name;
    }

    /** A check named {@code name} (the name appears in failure messages). */
    public static GradCheck of(String name) {
        return new GradCheck(name);
    }

    /** Step of the central difference (default 1e-6). */
    public GradCheck step(double step) {
        this.h = step;
        return this;
    }

    /** Tolerances (defaults 1e-7 absolute, 1e-5 relative). */
    public GradCheck tolerance(double absolute, double relative) {
        this.atol = absolute;
        this.rtol = relative;
        return this;
    }

    /** Elements checked per input (default 48). */
    public GradCheck maxPerInput(int n) {
        this.maxPerInput = n;
        return this;
    }

    /** Seed for the projection and the sampled elements. */
    public GradCheck seed(long s) {
        this.seed = s;
        return this;
    }

    /**
     * Runs the check. {@code inputs} must be F64; those requiring gradients are checked, the others are held
     * constant. Returns the largest absolute difference seen.
     */
    public double run(Function<Tensor[], Tensor> f, Tensor... inputs) {
        for (Tensor t : inputs) {
            if (t.dtype() != DType.F64 && t.dtype().isFloating()) {
                throw new IllegalArgumentException(name + ": gradient checks run in float64; an input is " + t.dtype());
            }
            if (t.requiresGrad()) {
                t.clearGrad();
            }
        }
        Tensor y = f.apply(inputs);
        if (y.dtype() != DType.F64) {
            throw new IllegalArgumentException(name + ": the op returned " + y.dtype() + " for float64 inputs");
        }
        SplittableRandom rnd = new SplittableRandom(seed);
        double[] r = new double[Math.toIntExact(y.numel())];
        for (int i = 0; i < r.length; i++) {
            r[i] = rnd.nextDouble(-1, 1);
        }
        Autograd.backward(y, Tensor.ofDoubles(r, y.shape()));

        double worst = 0;
        for (int k = 0; k < inputs.length; k++) {
            Tensor x = inputs[k];
            if (!x.requiresGrad()) {
                continue;
            }
            Tensor g = x.grad();
            if (g == null) {
                throw new AssertionError(name + ": input " + k + " requires a gradient but backward left none");
            }
            for (long i : sample(x.numel(), rnd)) {
                double orig = x.getDouble(i);
                x.setDouble(i, orig + h);
                double lp = project(f, inputs, r);
                x.setDouble(i, orig - h);
                double lm = project(f, inputs, r);
                x.setDouble(i, orig);
                double numeric = (lp - lm) / (2 * h);
                double analytic = g.getDouble(i);
                double diff = Math.abs(numeric - analytic);
                worst = Math.max(worst, diff);
                if (!(diff <= atol + rtol * Math.max(Math.abs(numeric), Math.abs(analytic)))) {
                    throw new AssertionError(String.format("%s: d/d input %d %s at element %d: analytic %.10g, numeric %.10g (diff %.3g)",
                            name, k, Arrays.toString(x.shape()), i, analytic, numeric, diff));
                }
            }
        }
        return worst;
    }

    private long[] sample(long n, SplittableRandom rnd) {
        TreeSet<Long> idx = new TreeSet<>();
        if (n <= maxPerInput) {
            for (long i = 0; i < n; i++) {
                idx.add(i);
            }
        } else {
            idx.add(0L);
            idx.add(n - 1);
            while (idx.size() < maxPerInput) {
                idx.add(rnd.nextLong(n));
            }
        }
        return idx.stream().mapToLong(Long::longValue).toArray();
    }

    private static double project(Function<Tensor[], Tensor> f, Tensor[] inputs, double[] r) {
        try (Autograd.NoGrad ng = Autograd.noGrad()) {
            Tensor y = f.apply(inputs);
            double s = 0;
            for (int i = 0; i < r.length; i++) {
                s += y.getDouble(i) * r[i];
            }
            return s;
        }
    }
}
