package ai.kestrel.kernels.elementwise;

import ai.kestrel.kernels.Buf;

/**
 * Element-wise kernels. Shapes: {@code a, out (R, C)} row-major; {@code b} per {@link Broadcast}; unary maps take
 * {@code n} elements. Every output may alias an input of the same shape (in-place use).
 */
public interface Elementwise {
    /** The reference: scalar loops in double; float32 and float64 buffers. */
    Elementwise REF = new ElementwiseRef();
    /** Vector API, multi-threaded; float32 buffers only. */
    Elementwise CPU = new ElementwiseCpu();

    /** {@code out = a + b}. */
    void add(Buf a, Buf b, Buf out, int rows, int cols, Broadcast bc);

    /** {@code out = a * b}. */
    void mul(Buf a, Buf b, Buf out, int rows, int cols, Broadcast bc);

    /**
     * Inverted dropout's mask applied: {@code y[i] = draw(seed, i) < p ? 0 : x[i] * scale} over {@code n} elements
     * ({@link #draw}: element i takes the i-th {@code nextDouble()} of {@code new SplittableRandom(seed)}, so the
     * mask is a function of the seed alone and the same on every thread count and machine).
     */
    void dropout(Buf x, Buf y, long n, double p, double scale, long seed);

    /** {@link java.util.SplittableRandom}'s increment for a generator made from a seed alone. */
    long GOLDEN_GAMMA = 0x9e3779b97f4a7c15L;

    /**
     * Element {@code i}'s dropout draw: the {@code (i + 1)}-th {@code nextDouble()} of
     * {@code new SplittableRandom(seed)}, computed without the ones before it (the generator's state after
     * {@code j} draws is {@code seed + j * GOLDEN_GAMMA}, and each draw is a fixed mix of the state).
     */
    static double draw(long seed, long i) {
        return (mix64(seed + (i + 1) * GOLDEN_GAMMA) >>> 11) * 0x1.0p-53;
    }

    /** SplittableRandom's output mix (Stafford's variant 13 of MurmurHash3's finalizer). */
    private static long mix64(long z) {
        z = (z ^ (z >>> 30)) * 0xbf58476d1ce4e5b9L;
        z = (z ^ (z >>> 27)) * 0x94d049bb133111ebL;
        return z ^ (z >>> 31);
    }

    /** {@code out = s * a} over {@code n} elements. */
    void scale(Buf a, double s, Buf out, long n);

    /** {@code y += alpha * x} over {@code n} elements (gradient accumulation). */
    void axpy(double alpha, Buf x, Buf y, long n);

    /** {@code y = x * sigmoid(x)}. */
    void silu(Buf x, Buf y, long n);

    /** {@code dx = dy * silu'(x)} where {@code silu'(x) = s * (1 + x * (1 - s))}, {@code s = sigmoid(x)}. */
    void siluBackward(Buf dy, Buf x, Buf dx, long n);

    /** {@code y = log(1 + exp(x))}, as PyTorch's softplus (beta 1, threshold 20: {@code y = x} for {@code x > 20}). */
    void softplus(Buf x, Buf y, long n);

    /** {@code dx = dy * sigmoid(x)} (PyTorch: {@code dy} for {@code x > 20}). */
    void softplusBackward(Buf dy, Buf x, Buf dx, long n);

    /** {@code y = exp(x)}. */
    void exp(Buf x, Buf y, long n);

    /** Column sums: {@code out[c] (+)= sum_r x[r, c]}; accumulates into {@code out} when {@code accumulate}. */
    void sumRows(Buf x, Buf out, int rows, int cols, boolean accumulate);

    /** Row sums: {@code out[r] (+)= sum_c x[r, c]}; accumulates into {@code out} when {@code accumulate}. */
    void sumCols(Buf x, Buf out, int rows, int cols, boolean accumulate);
}
