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

    /**
     * {@code y = x·Wᵀ + bias}; {@code bias} may be {@code null}. With Q8_0 weights, {@code x} is first rounded as
     * ggml rounds a Q8_0 product's activations ({@link ai.kestrel.kernels.quant.Q8Activations}), so that Kestrel
     * computes what llama.cpp computes; with F16 or BF16 weights whose {@link Weights#roundsInput} is set, to the
     * weight's type ({@link ai.kestrel.kernels.quant.HalfRounding}), as ggml also does. The backward products take
     * {@code dy} and {@code x} as they are (the rounding passes gradients straight through).
     */
    void forward(Buf x, Weights w, Buf bias, Buf y, int m);

    /**
     * {@code y = r + x·Wᵀ}, as {@link #forward} without a bias, with the sum formed as the product is written (a LoRA
     * adapter's B product added to its base product: one pass over {@code y} and {@code r} instead of a product
     * then an addition). {@code r (m, n)} may be {@code y} itself (then {@code y += x·Wᵀ}); otherwise the two must not
     * overlap.
     */
    void forwardAdd(Buf x, Weights w, Buf r, Buf y, int m);

    /**
     * {@code y = x·Wᵀ + h·Uᵀ}: two products of one output summed, {@code W (N, K)} and {@code U (N, r)}, as
     * {@link #forward} of each (each input rounded as its weight asks) without a bias; {@code h (m, r)}. A LoRA-wrapped
     * product, base and adapter's B at once: the CPU kernel runs it as one product over the reduction
     * {@code [x | h]·[W | U]ᵀ}, so the output is written once and the short adapter reduction (r = 16) costs its
     * multiply-adds only. This default is the definition: a {@link #forward} then a {@link #forwardAdd}.
     */
    default void forwardPair(Buf x, Weights w, Buf h, Weights u, Buf y, int m) {
        requireSameRows(w, u);
        forward(x, w, null, y, m);
        forwardAdd(h, u, y, y, m);
    }

    /** Throws unless {@link #forwardPair}'s operands agree: {@code U} as many rows as {@code W}, float32 buffers large enough. */
    static void requirePair(Buf x, Weights w, Buf h, Weights u, Buf y, int m) {
        requireSameRows(w, u);
        requireForward(x, w, null, y, m);
        h.requireF32("h", (long) m * u.k());
    }

    /** Throws unless {@link #forwardPair}'s two weights have as many rows (the output's columns). */
    static void requireSameRows(Weights w, Weights u) {
        if (u.n() != w.n()) {
            throw new IllegalArgumentException("forwardPair: W has " + w.n() + " rows, U " + u.n() + ": they must write the same output");
        }
    }

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

    /** Throws unless the buffers of {@link #forward} hold float32 {@code x (m, k)}, {@code y (m, n)} and {@code bias (n)}. */
    static void requireForward(Buf x, Weights w, Buf bias, Buf y, int m) {
        x.requireF32("x", (long) m * w.k());
        y.requireF32("y", (long) m * w.n());
        if (bias != null) {
            bias.requireF32("bias", w.n());
        }
    }

    /**
     * Throws unless {@link #forwardMany}'s arguments agree: as many outputs (and biases) as matrices, one {@code k}
     * shared by every matrix, each buffer large enough. Returns that {@code k} (0 for no matrices).
     */
    static int requireMany(Buf x, Weights[] ws, Buf[] biases, Buf[] ys, int m) {
        if (ws.length != ys.length || (biases != null && biases.length != ws.length)) {
            throw new IllegalArgumentException(ws.length + " matrices, " + ys.length + " outputs, " + (biases == null ? 0 : biases.length) + " biases");
        }
        if (ws.length == 0) {
            return 0;
        }
        int k = ws[0].k();
        x.requireF32("x", (long) m * k);
        for (int j = 0; j < ws.length; j++) {
            if (ws[j].k() != k) {
                throw new IllegalArgumentException("matrix " + j + " has k = " + ws[j].k() + ", matrix 0 has " + k + ": they must share x");
            }
            ys[j].requireF32("y", (long) m * ws[j].n());
            if (biases != null && biases[j] != null) {
                biases[j].requireF32("bias", ws[j].n());
            }
        }
        return k;
    }

    /** Throws unless {@link #backwardInput}'s buffers hold float32 {@code dy (m, n)} and {@code dx (m, k)}. */
    static void requireBackwardInput(Buf dy, Weights w, Buf dx, int m) {
        dy.requireF32("dy", (long) m * w.n());
        dx.requireF32("dx", (long) m * w.k());
    }

    /** Throws unless {@link #backwardWeight}'s buffers hold float32 {@code dy (m, n)}, {@code x (m, k)}, {@code dw (n, k)}. */
    static void requireBackwardWeight(Buf dy, Buf x, Buf dw, int m, int n, int k) {
        dy.requireF32("dy", (long) m * n);
        x.requireF32("x", (long) m * k);
        dw.requireF32("dw", (long) n * k);
    }
}
