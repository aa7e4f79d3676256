package ai.kestrel.kernels.conv;

import ai.kestrel.kernels.Buf;

/**
 * Causal depthwise conv1d with bias, as Hugging Face's Mamba mixers run {@code nn.Conv1d(groups=C,
 * padding=W-1)} and keep the first {@code T} outputs:
 * {@code y[b,t,c] = bias[c] + sum_j w[c,j] * x[b, t-(W-1)+j, c]}, where inputs before {@code t = 0} come
 * from {@code state0} (the last {@code W-1} inputs of an earlier call), or are zero.
 *
 * <p>Shapes: {@code x, y, dy, dx (B, T, C)} channels last; {@code w, dw (C, W)} (HF's {@code conv1d.weight
 * [C, 1, W]} squeezed, the bytes of GGUF's {@code ssm_conv1d}); {@code bias, dbias (C)};
 * {@code state0, stateOut, dstate0 (B, W-1, C)}. Optional buffers may be {@code null}.
 */
public interface CausalConv1d {
    /** The reference: scalar loops in double; float32 and float64 buffers. */
    CausalConv1d REF = new CausalConv1dRef();
    /** Vector API across channels, (batch, time block) in parallel; float32 only. */
    CausalConv1d CPU = new CausalConv1dCpu();

    /** Also writes the last {@code W-1} inputs (of state0 followed by x) to {@code stateOut} when given. */
    void forward(Buf x, Buf w, Buf bias, Buf state0, Buf y, Buf stateOut, int b, int t, int c, int width);

    /** {@code dx}, {@code dstate0} overwritten; {@code dw}, {@code dbias} accumulated. */
    void backward(Buf dy, Buf x, Buf w, Buf state0, Buf dx, Buf dw, Buf dbias, Buf dstate0, int b, int t, int c, int width);

    /**
     * One token for generation: {@code x, y (B, C)}; {@code state (B, W-1, C)} holds the previous W-1 inputs
     * and is shifted in place to end with {@code x}. O(1) in the sequence length.
     */
    void step(Buf x, Buf w, Buf bias, Buf state, Buf y, int b, int c, int width);
}
