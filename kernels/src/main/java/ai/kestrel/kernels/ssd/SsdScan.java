package ai.kestrel.kernels.ssd;

import ai.kestrel.kernels.Buf;

/**
 * The Mamba-2 scan as Falcon-H1 runs it (Hugging Face {@code FalconH1Mixer.torch_forward}, mamba-ssm
 * {@code mamba_chunk_scan_combined} with {@code dt_bias} and {@code dt_softplus=True}, no {@code dt} clamp).
 * Per batch and head {@code h} (reading group {@code g = h / (H / G)}), with state {@code S (P, N)}:
 * <pre>
 *   delta = softplus(dt[t,h] + dtBias[h])            (PyTorch softplus, threshold 20)
 *   S     = exp(delta * A[h]) * S + delta * x[t,h,:] ⊗ B[t,g,:]
 *   y[t,h,:] = S · C[t,g,:] + D[h] * x[t,h,:]
 * </pre>
 * Shapes: {@code x, y, dy, dx (B, T, H, P)}; {@code dt, ddt (B, T, H)}; {@code dtBias, A, D} and their
 * gradients {@code (H)}; {@code Bm, Cm, dB, dC (B, T, G, N)}; states {@code s0, sT, ds0 (B, H, P, N)}.
 * {@code A} is negative (the model passes {@code -exp(A_log)}; GGUF stores A). Optional buffers may be
 * {@code null}: a missing {@code s0} is zeros, a missing {@code dtBias} or {@code D} is zero. {@code chunk}
 * only changes how the scan is computed, never its result.
 */
public interface SsdScan {
    /** The reference: the recurrence above, step by step in double; float32 and float64 buffers. */
    SsdScan REF = new SsdScanRef();
    /** The chunked SSD algorithm with the Vector API, (batch, head) pairs in parallel; float32 only. */
    SsdScan CPU = new SsdScanCpu();

    /** Computes {@code y}, and the final state into {@code sT} when given. */
    void forward(Buf x, Buf dt, Buf dtBias, Buf a, Buf bm, Buf cm, Buf d, Buf s0, Buf y, Buf sT,
                 Dims dims);

    /**
     * Gradients of {@code y} (the final state's gradient is taken as zero): {@code dx, ddt, dB, dC, ds0}
     * overwritten; {@code ddtBias, dA, dD} accumulated. Any output may be {@code null}.
     */
    void backward(Buf dy, Buf x, Buf dt, Buf dtBias, Buf a, Buf bm, Buf cm, Buf d, Buf s0,
                  Buf dx, Buf ddt, Buf ddtBias, Buf dA, Buf dB, Buf dC, Buf dD, Buf ds0, Dims dims);

    /**
     * One token for generation: {@code x, y (B, H, P)}, {@code dt (B, H)}, {@code bm, cm (B, G, N)}, state
     * {@code (B, H, P, N)} updated in place. O(1) in the sequence length. {@code dims.t()} is ignored.
     */
    void step(Buf x, Buf dt, Buf dtBias, Buf a, Buf bm, Buf cm, Buf d, Buf state, Buf y, Dims dims);

    /**
     * The dimensions of one call: batch, time, heads, head width, groups, state width, chunk length.
     */
    record Dims(int b, int t, int h, int p, int g, int n, int chunk) {
        public Dims {
            if (b < 0 || t < 0 || h < 1 || p < 1 || g < 1 || n < 1 || chunk < 1) {
                throw new IllegalArgumentException("bad SSD dimensions " + this);
            }
            if (h % g != 0) {
                throw new IllegalArgumentException("SSD: " + h + " heads do not split into " + g + " groups");
            }
        }

        /** The group head {@code hh} reads. */
        public int group(int hh) {
            return hh / (h / g);
        }
    }

    /** PyTorch's softplus (beta 1, threshold 20). */
    static double softplus(double v) {
        return v > 20 ? v : Math.log1p(Math.exp(v));
    }

    /** Derivative of {@link #softplus}. */
    static double softplusGrad(double v) {
        return v > 20 ? 1 : 1 / (1 + Math.exp(-v));
    }
}
