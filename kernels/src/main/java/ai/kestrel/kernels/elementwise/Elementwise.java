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
