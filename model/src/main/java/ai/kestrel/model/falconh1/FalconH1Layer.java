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

    /** The matrices LoRA and 4-bit quantization address, by their Hugging Face module names. */
    public static final java.util.List<String> LINEAR_MODULES = java.util.List.of("self_attn.q_proj", "self_attn.k_proj",
            "self_attn.v_proj", "self_attn.o_proj", "mamba.in_proj", "feed_forward.gate_proj", "feed_forward.up_proj",
            "feed_forward.down_proj");

    /** The matrix of {@code module} (one of {@link #LINEAR_MODULES}, or {@code mamba.out_proj}). */
    public Tensor matrix(String module) {
        return switch (module) {
            case "self_attn.q_proj" -> q;
            case "self_attn.k_proj" -> k;
            case "self_attn.v_proj" -> v;
            case "self_attn.o_proj" -> o;
            case "mamba.in_proj" -> inProj;
            case "mamba.out_proj" -> outProj;
            case "feed_forward.gate_proj" -> gate;
            case "feed_forward.up_proj" -> up;
            case "feed_forward.down_proj" -> down;
            default -> throw new IllegalArgumentException("no matrix '" + module + "' in a Falcon-H1 layer");
        };
    }
}
