package ai.kestrel.kernels.matmul;

import ai.kestrel.kernels.Buf;
import ai.kestrel.kernels.quant.Weights;

/**
 * Products with a weight matrix {@code W (N, K)} stored as {@link Weights} (F32, F16, BF16, Q8_0; F64 in
 * the reference), the layout of {@code nn.Linear.weight}.
 *
 * <p>Shapes: {@code x, dx (M, K)}; {@code y, dy (M, N)}; {@code bias (N)}; {@code dw (N, K)}; row-major.
 */
public interface Matmul {
    /** The reference: scalar loops in double; float32 and float64 buffers and any weight format. */
    Matmul REF = new MatmulRef();
    /** Vector API, cache-blocked and multi-threaded; float32 activations, F32/F16/BF16/Q8_0 weights. */
    Matmul CPU = new MatmulCpu();

    /** {@code y = x·Wᵀ + bias}; {@code bias} may be {@code null}. */
    void forward(Buf x, Weights w, Buf bias, Buf y, int m);

    /**
     * {@code ys[j] = x·ws[j]ᵀ + biases[j]} for several matrices that share {@code x} (all with the same
     * {@code k}); {@code biases} may be {@code null} or hold {@code null}s. The same as one {@link #forward} per
     * matrix (the same kernels); an implementation may run them as one job (the CPU kernel does when decoding).
     */
    default void forwardMany(Buf x, Weights[] ws, Buf[] biases, Buf[] ys, int m) {
        for (int j = 0; j < ws.length; j++) {
            forward(x, ws[j], biases == null ? null : biases[j], ys[j], m);
        }
    }

    /** {@code dx = dy·W}, or {@code dx += dy·W} when {@code accumulate}. */
    void backwardInput(Buf dy, Weights w, Buf dx, int m, boolean accumulate);

    /** {@code dw += dyᵀ·x}: the weight gradient, summed over the {@code m} rows. */
    void backwardWeight(Buf dy, Buf x, Buf dw, int m, int n, int k);
}
