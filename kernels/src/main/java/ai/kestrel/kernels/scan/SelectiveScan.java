package ai.kestrel.kernels.scan;

import ai.kestrel.kernels.Buf;

/**
 * Mamba-1's selective scan, as Hugging Face's {@code FalconMambaMixer.slow_forward} and mamba-ssm's
 * {@code selective_scan_ref} with {@code delta_bias} and {@code delta_softplus=True}. Per batch and channel
 * {@code d}, with state {@code h[d][n]}:
 * <pre>
 *   delta = softplus(dt[t,d] + dtBias[d])                 (PyTorch softplus, threshold 20)
 *   h[n]  = exp(delta * A[d,n]) * h[n] + delta * B[t,n] * x[t,d]
 *   y[t,d] = sum_n h[n] * C[t,n] + D[d] * x[t,d]
 * </pre>
 * Shapes: {@code x, dt, y, dy, dx, ddt (B, T, Din)}; {@code dtBias, D, ddtBias, dD (Din)};
 * {@code A, dA (Din, N)} (negative: the model passes {@code -exp(A_log)}); {@code Bm, Cm, dB, dC (B, T, N)},
 * shared by every channel; {@code h0, hT, dh0 (B, Din, N)}. Optional buffers may be {@code null}
 * (a missing {@code h0} is zeros, a missing {@code dtBias} or {@code D} is zero).
 */
public interface SelectiveScan {
    /** The reference: the recurrence step by step in double; float32 and float64 buffers. */
    SelectiveScan REF = new SelectiveScanRef();
    /** Vector API across channels (state laid out n-major), channel blocks in parallel; float32 only. */
    SelectiveScan CPU = new SelectiveScanCpu();

    void forward(Buf x, Buf dt, Buf dtBias, Buf a, Buf bm, Buf cm, Buf dskip, Buf h0, Buf y, Buf hT,
                 int b, int t, int din, int n);

    /**
     * Gradients of {@link #forward} for {@code dy} (the final state's gradient is taken as zero):
     * {@code dx, ddt, dB, dC, dh0} overwritten; {@code ddtBias, dA, dD} accumulated.
     */
    void backward(Buf dy, Buf x, Buf dt, Buf dtBias, Buf a, Buf bm, Buf cm, Buf dskip, Buf h0,
                  Buf dx, Buf ddt, Buf ddtBias, Buf dA, Buf dB, Buf dC, Buf dD, Buf dh0,
                  int b, int t, int din, int n);

    /** One token: {@code x, dt, y (B, Din)}, {@code bm, cm (B, N)}, state {@code h (B, Din, N)} updated in place. */
    void step(Buf x, Buf dt, Buf dtBias, Buf a, Buf bm, Buf cm, Buf dskip, Buf h, Buf y, int b, int din, int n);

    /** PyTorch's softplus (beta 1, threshold 20). */
    static double softplus(double v) {
        return v > 20 ? v : Math.log1p(Math.exp(v));
    }

    /** Derivative of {@link #softplus}. */
    static double softplusGrad(double v) {
        return v > 20 ? 1 : 1 / (1 + Math.exp(-v));
    }
}
