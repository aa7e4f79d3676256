package ai.kestrel.engine.ops;

/**
 * Whose arithmetic a product with 16-bit or quantized weights reproduces ({@link Linalg#linear(ai.kestrel.engine.Tensor,
 * ai.kestrel.engine.Tensor, ai.kestrel.engine.Tensor, Numerics)}). The two reference implementations differ in what they
 * do to the activations {@code x} before multiplying:
 * <ul>
 *   <li>{@link #TRANSFORMERS}: F16 and BF16 weights multiply {@code x} in float32, as transformers computes a model
 *       loaded in float32 (what a Hugging Face folder's reference logits are). Q8_0, which only GGUF files hold, is
 *       still computed as ggml computes it.</li>
 *   <li>{@link #GGML}: as llama.cpp's CPU backend: {@code x} is first rounded to the weight's type: to float16 for
 *       F16 weights, to bfloat16 for BF16 weights (to nearest, ties to even), to Q8_0 blocks for Q8_0 weights; then
 *       multiplied in float32. A model read from a GGUF file computes this way.</li>
 * </ul>
 * F32 and NF4 products never round. Gradients pass the rounding straight through.
 */
public enum Numerics {
    TRANSFORMERS,
    GGML
}
