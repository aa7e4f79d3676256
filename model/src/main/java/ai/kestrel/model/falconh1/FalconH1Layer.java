package ai.kestrel.model.falconh1;

import ai.kestrel.engine.Tensor;

/**
 * One decoder layer's weights. Matrices keep their stored dtype (F32, BF16, F16, Q8_0) in PyTorch's
 * {@code [out, in]} layout; vectors are float32. {@code a} is A itself ({@code -exp(A_log)}), {@code conv}
 * is {@code (conv_dim, W)}; {@code mambaNorm} is null when the config has no gated norm.
 */
public record FalconH1Layer(
        Tensor inputNorm, Tensor preFfNorm,
        Tensor q, Tensor k, Tensor v, Tensor o,
        Tensor inProj, Tensor conv, Tensor convBias, Tensor dtBias, Tensor a, Tensor d, Tensor mambaNorm, Tensor outProj,
        Tensor gate, Tensor up, Tensor down) {
}
