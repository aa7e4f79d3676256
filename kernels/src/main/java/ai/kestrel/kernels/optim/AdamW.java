package ai.kestrel.kernels.optim;

import ai.kestrel.kernels.Buf;

/**
 * One AdamW step on a flat parameter buffer, exactly as PyTorch's {@code torch.optim.AdamW} (single-tensor,
 * not amsgrad, not maximize): with {@code t} the 1-based step,
 * <pre>
 *   p <- p * (1 - lr * wd)                      (decoupled weight decay)
 *   m <- b1 * m + (1 - b1) * g
 *   v <- b2 * v + (1 - b2) * g^2
 *   p <- p - (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
 * </pre>
 * Shapes: {@code param, grad, m, v (n)}.
 */
public interface AdamW {
    /** The reference: scalar loops in double; float32 and float64 buffers. */
    AdamW REF = new AdamWRef();
    /** Vector API, chunks in parallel; float32 only. */
    AdamW CPU = new AdamWCpu();

    void step(Buf param, Buf grad, Buf m, Buf v, long n, double lr, double beta1, double beta2, double eps,
              double weightDecay, long t);

    /** {@code sum(g^2)} over {@code n} elements, accumulated in double (for global-norm clipping). */
    double sumSquares(Buf g, long n);
}
