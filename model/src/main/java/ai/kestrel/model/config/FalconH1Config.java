package ai.kestrel.model.config;

import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * A Falcon-H1 configuration, field for field what Hugging Face's {@code FalconH1Config} reads from
 * {@code config.json} and the model uses. Build it with {@link #fromJson(Path)} or {@link #preset(String)}.
 *
 * @param dSsm      Mamba-2 inner width ({@code mamba_d_ssm}, or {@code mamba_expand * hidden_size} when null)
 * @param headDim   attention head width ({@code head_dim}, or {@code hidden_size / num_attention_heads} when null)
 * @param eosTokenIds every end-of-sequence id the config lists
 */
public record FalconH1Config(
        int vocabSize,
        int hiddenSize,
        int intermediateSize,
        int numLayers,
        int numAttentionHeads,
        int numKeyValueHeads,
        int headDim,
        double ropeTheta,
        double rmsNormEps,
        int maxPositionEmbeddings,
        boolean attentionBias,
        boolean mlpBias,
        boolean projectorsBias,
        int dSsm,
        int mambaHeads,
        int mambaHeadDim,
        int mambaDState,
        int mambaGroups,
        int mambaDConv,
        int mambaChunkSize,
        boolean mambaConvBias,
        boolean mambaProjBias,
        boolean mambaRmsNorm,
        boolean mambaNormBeforeGate,
        boolean tieWordEmbeddings,
        int bosTokenId,
        java.util.List<Integer> eosTokenIds,
        int padTokenId,
        Mup mup) {

    /**
     * Falcon-H1's muP multipliers, applied where {@code modeling_falcon_h1.py} applies them.
     *
     * @param ssm five factors on the in_proj output rows {@code z | x | B | C | dt}
     * @param mlp two factors: gate_proj output, down_proj output
     */
    public record Mup(
            double embedding,
            double lmHead,
            double attentionIn,
            double attentionOut,
            double key,
            double ssmIn,
            double ssmOut,
            java.util.List<Double> ssm,
            java.util.List<Double> mlp) {
        public Mup {
            ssm = java.util.List.copyOf(ssm);
            mlp = java.util.List.copyOf(mlp);
        }
    }

    public FalconH1Config {
        eosTokenIds = java.util.List.copyOf(eosTokenIds);
    }

    /** Width of the Mamba conv input: {@code x | B | C} = d_ssm + 2 * groups * d_state. */
    public int convDim() {
        return dSsm + 2 * mambaGroups * mambaDState;
    }

    /** Rows of in_proj: {@code z | x | B | C | dt} = 2 * d_ssm + 2 * groups * d_state + heads. */
    public int inProjSize() {
        return 2 * dSsm + 2 * mambaGroups * mambaDState + mambaHeads;
    }

    /** Reads and validates a Hugging Face {@code config.json}. */
    public static FalconH1Config fromJson(Path file) {
        return from(JsonFields.read(file));
    }

    /** Parses {@code json} (named {@code source} in errors). */
    public static FalconH1Config fromJson(String source, String json) {
        return from(JsonFields.parse(source, json));
    }

    /** Names of the built-in presets (real Falcon-H1 shapes with random weights, for speed work). */
    public static final java.util.List<String> PRESETS = java.util.List.of("falcon-h1-0.5b", "falcon-h1-1.5b-deep", "falcon-h1-tiny");

    /**
     * A real Falcon-H1 configuration by name (see {@link #PRESETS}). The 1.5B-Deep intermediate size and
     * multipliers are not public: the preset uses 3072 (what 1.55B parameters imply) and the 0.5B multipliers.
     */
    public static FalconH1Config preset(String name) {
        if (!PRESETS.contains(name)) {
            throw new ConfigException("unknown preset '" + name + "'; known: " + String.join(", ", PRESETS));
        }
        try (InputStream in = FalconH1Config.class.getResourceAsStream("presets/" + name + ".json")) {
            if (in == null) {
                throw new IllegalStateException("preset resource presets/" + name + ".json is missing from the build");
            }
            return fromJson(name + ".json", new String(in.readAllBytes(), StandardCharsets.UTF_8));
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    static FalconH1Config from(JsonFields f) {
        String type = f.string("model_type");
        f.check(type.equals("falcon_h1"), "model_type is '" + type + "', expected 'falcon_h1'");
        int hidden = f.positive("hidden_size");
        int heads = f.positive("num_attention_heads");
        int kvHeads = f.positive("num_key_value_heads");
        int headDim = f.has("head_dim") ? f.positive("head_dim") : hidden / heads;
        int dSsm = f.has("mamba_d_ssm") ? f.positive("mamba_d_ssm") : (int) (f.number("mamba_expand") * hidden);
        int mHeads = f.positive("mamba_n_heads");
        int mHeadDim = f.positive("mamba_d_head");
        int groups = f.positive("mamba_n_groups");
        f.check(heads % kvHeads == 0, "num_attention_heads (" + heads + ") is not a multiple of num_key_value_heads (" + kvHeads + ")");
        f.check(mHeads * mHeadDim == dSsm, "mamba_n_heads * mamba_d_head (" + mHeads + " * " + mHeadDim + ") != mamba_d_ssm (" + dSsm + ")");
        f.check(mHeads % groups == 0, "mamba_n_heads (" + mHeads + ") is not a multiple of mamba_n_groups (" + groups + ")");
        f.check(headDim % 2 == 0, "head_dim (" + headDim + ") must be even for rotary embeddings");
        f.check(!f.has("rope_scaling"), "rope_scaling is not supported (Falcon-H1 checkpoints have none)");
        int[] bos = f.tokenIds("bos_token_id");
        int[] pad = f.tokenIds("pad_token_id");
        Mup mup = new Mup(
                f.number("embedding_multiplier"),
                f.number("lm_head_multiplier"),
                f.number("attention_in_multiplier"),
                f.number("attention_out_multiplier"),
                f.number("key_multiplier"),
                f.number("ssm_in_multiplier"),
                f.number("ssm_out_multiplier"),
                Arrays.stream(f.numbers("ssm_multipliers", 5)).boxed().toList(),
                Arrays.stream(f.numbers("mlp_multipliers", 2)).boxed().toList());
        return new FalconH1Config(
                f.positive("vocab_size"),
                hidden,
                f.positive("intermediate_size"),
                f.positive("num_hidden_layers"),
                heads,
                kvHeads,
                headDim,
                f.number("rope_theta"),
                f.number("rms_norm_eps"),
                f.positive("max_position_embeddings"),
                f.bool("attention_bias", false),
                f.bool("mlp_bias", false),
                f.bool("projectors_bias", false),
                dSsm,
                mHeads,
                mHeadDim,
                f.positive("mamba_d_state"),
                groups,
                f.positive("mamba_d_conv"),
                f.positive("mamba_chunk_size"),
                f.bool("mamba_conv_bias"),
                f.bool("mamba_proj_bias", false),
                f.bool("mamba_rms_norm"),
                f.bool("mamba_norm_before_gate"),
                f.bool("tie_word_embeddings", false),
                bos.length > 0 ? bos[0] : -1,
                Arrays.stream(f.tokenIds("eos_token_id")).boxed().toList(),
                pad.length > 0 ? pad[0] : -1,
                mup);
    }
}
