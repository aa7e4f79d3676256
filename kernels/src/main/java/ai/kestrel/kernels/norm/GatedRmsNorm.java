package ai.kestrel.kernels.norm;

import ai.kestrel.kernels.Buf;

/**
 * Mamba-2's gated, grouped RMSNorm, as Hugging Face's {@code FalconH1RMSNormGated} with
 * {@code norm_before_gate=False} (every Falcon-H1 checkpoint): {@code g = x * silu(z)}, then each group of
 * {@code D / G} channels is RMS-normalised and scaled by its slice of {@code w}:
 * {@code y = w * g / sqrt(mean_group(g^2) + eps)}.
 *
 * <p>Shapes: {@code x, z, y, dy, dx, dz (rows, D)}, {@code w, dw (D)}, {@code rstd (rows, G)};
 * {@code D % G == 0}.
 */
public interface GatedRmsNorm {
    /** The reference: scalar loops in double; float32 and float64 buffers. */
    GatedRmsNorm REF = new GatedRmsNormRef();
    /** Vector API, multi-threaded over rows; float32 buffers only. */
    GatedRmsNorm CPU = new GatedRmsNormCpu();

    /**
     * @param x    input (rows, D): the SSM output
     * @param z    gate (rows, D)
     * @param w    weight (D)
     * @param y    output (rows, D)
     * @param rstd output (rows, G): reciprocal RMS of {@code g} per group, or {@code null}
     */
    void forward(Buf x, Buf z, Buf w, Buf y, Buf rstd, int rows, int d, int groups, float eps);

    /**
     * Gradients of {@link #forward}: {@code dx}, {@code dz} overwritten, {@code dw} accumulated; any may be
     * {@code null}. {@code rstd} is what forward wrote.
     */
    void backward(Buf dy, Buf x, Buf z, Buf w, Buf rstd, Buf dx, Buf dz, Buf dw, int rows, int d, int groups);

    /** Throws unless {@code d} splits into {@code groups} equal groups. */
    static int groupSize(int d, int groups) {
        if (groups < 1 || d % groups != 0) {
            throw new IllegalArgumentException("gated RMSNorm: width " + d + " does not split into " + groups + " groups");
        }
        return d / groups;
    }
}
