package ai.kestrel.kernels.rope;

import ai.kestrel.kernels.Buf;

/**
 * NeoX-style RoPE, as Hugging Face's {@code apply_rotary_pos_emb} with {@code rotate_half} (llama.cpp's
 * NEOX mode): for token {@code t} at position {@code pos = start + t}, pair {@code (i, i + P/2)} of every head
 * is rotated by {@code pos * theta^(-2i/P)}:
 * {@code y[i] = x[i] cos - x[i+P/2] sin}, {@code y[i+P/2] = x[i+P/2] cos + x[i] sin}.
 *
 * <p>Angles are computed in double and rounded once (Hugging Face computes them in float32; at Falcon-H1's
 * theta of 1e11 and long contexts float32 angles drift, double ones do not).
 * Shapes: {@code x, y (B, T, H, P)}, {@code P} even. {@code y} may be {@code x}.
 */
public interface Rope {
    /** The reference: scalar loops in double; float32 and float64 buffers. */
    Rope REF = new RopeRef();
    /** Vector API with a per-call cos/sin table, (batch, token) rows in parallel; float32 only. */
    Rope CPU = new RopeCpu();

    /** Rotates forward by each token's angle. */
    void forward(Buf x, Buf y, int b, int t, int h, int p, int start, double theta);

    /** The gradient: rotates {@code dy} back by the same angles into {@code dx}. */
    void backward(Buf dy, Buf dx, int b, int t, int h, int p, int start, double theta);

    /** {@code theta^(-2i/P)}, the frequency of pair {@code i}. */
    static double invFreq(int i, int p, double theta) {
        return Math.pow(theta, -2.0 * i / p);
    }

    /** Throws unless the head width is even. */
    static void checkHeadDim(int p) {
        if (p % 2 != 0) {
            throw new IllegalArgumentException("rotary embeddings need an even head width, got " + p);
        }
    }
}
