package ai.kestrel.kernels.norm;

import ai.kestrel.kernels.Buf;

/**
 * RMSNorm over the last dimension, as Hugging Face's {@code FalconH1RMSNorm}:
 * {@code y = w * x / sqrt(mean(x^2) + eps)}, statistics in float32 or better.
 *
 * <p>Shapes: {@code x, y, dy, dx (rows, D)}, {@code w, dw (D)}, {@code rstd (rows)} holds
 * {@code 1 / sqrt(mean(x^2) + eps)} per row, written by forward and read by backward.
 */
public interface RmsNorm {
    /** The reference: scalar loops in double; float32 and float64 buffers. */
    RmsNorm REF = new RmsNormRef();
    /** Vector API, multi-threaded over rows; float32 buffers only. */
    RmsNorm CPU = new RmsNormCpu();

    /**
     * @param x    input (rows, D)
     * @param w    weight (D)
     * @param y    output (rows, D); may be {@code x}'s buffer
     * @param rstd output (rows): reciprocal RMS per row, or {@code null} when not needed
     */
    void forward(Buf x, Buf w, Buf y, Buf rstd, int rows, int d, float eps);

    /**
     * Gradients of {@link #forward}. {@code dx} is overwritten; {@code dw} is accumulated into
     * ({@code dw += ...}) so several calls can sum into one parameter gradient; either may be {@code null}.
     *
     * @param dy   upstream gradient (rows, D)
     * @param x    the forward input (rows, D)
     * @param rstd what forward wrote (rows)
     */
    void backward(Buf dy, Buf x, Buf w, Buf rstd, Buf dx, Buf dw, int rows, int d);
}
