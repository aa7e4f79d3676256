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

    /**
     * This layer with the matrix of {@code module} ({@code self_attn.q_proj}, {@code mamba.in_proj},
     * {@code feed_forward.up_proj}, ...) replaced by {@code w}.
     */
    public FalconH1Layer with(String module, Tensor w) {
        return switch (module) {
            case "self_attn.q_proj" -> new FalconH1Layer(inputNorm, preFfNorm, w, k, v, o, inProj, conv, convBias, dtBias, a, d, mambaNorm, outProj, gate, up, down);
            case "self_attn.k_proj" -> new FalconH1Layer(inputNorm, preFfNorm, q, w, v, o, inProj, conv, convBias, dtBias, a, d, mambaNorm, outProj, gate, up, down);
            case "self_attn.v_proj" -> new FalconH1Layer(inputNorm, preFfNorm, q, k, w, o, inProj, conv, convBias, dtBias, a, d, mambaNorm, outProj, gate, up, down);
            case "self_attn.o_proj" -> new FalconH1Layer(inputNorm, preFfNorm, q, k, v, w, inProj, conv, convBias, dtBias, a, d, mambaNorm, outProj, gate, up, down);
            case "mamba.in_proj" -> new FalconH1Layer(inputNorm, preFfNorm, q, k, v, o, w, conv, convBias, dtBias, a, d, mambaNorm, outProj, gate, up, down);
            case "feed_forward.gate_proj" -> new FalconH1Layer(inputNorm, preFfNorm, q, k, v, o, inProj, conv, convBias, dtBias, a, d, mambaNorm, outProj, w, up, down);
            case "feed_forward.up_proj" -> new FalconH1Layer(inputNorm, preFfNorm, q, k, v, o, inProj, conv, convBias, dtBias, a, d, mambaNorm, outProj, gate, w, down);
            case "feed_forward.down_proj" -> new FalconH1Layer(inputNorm, preFfNorm, q, k, v, o, inProj, conv, convBias, dtBias, a, d, mambaNorm, outProj, gate, up, w);
            default -> throw new IllegalArgumentException("no mergeable matrix '" + module + "' in a Falcon-H1 layer");
        };
    }
}
