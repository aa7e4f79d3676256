package ai.kestrel.model.config;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

/**
 * A Falcon-Mamba (Mamba-1) configuration as Hugging Face's {@code FalconMambaConfig} reads it.
 *
 * @param intermediateSize the mixer's inner width {@code d_inner}. falcon-mamba-7b's config says
 *                         {@code expand: 16} next to {@code intermediate_size: 8192 = 2 * hidden}: the inner
 *                         size is {@code intermediate_size}, as in transformers; {@code expand} is ignored.
 * @param timeStepRank     rank of the dt projection ({@code "auto"} means {@code ceil(hidden / 16)})
 * @param mixerRmsEps      epsilon of the RMS norms on dt, B and C (HF {@code mixer_rms_eps}, default 1e-6;
 *                         llama.cpp uses {@code layer_norm_epsilon} instead, see the fixtures README)
 */
public record FalconMambaConfig(
        int vocabSize,
        int hiddenSize,
        int intermediateSize,
        int numLayers,
        int stateSize,
        int convKernel,
        int timeStepRank,
        double layerNormEps,
        double mixerRmsEps,
        boolean useBias,
        boolean useConvBias,
        boolean tieWordEmbeddings,
        int bosTokenId,
        List<Integer> eosTokenIds,
        int padTokenId) {

    public FalconMambaConfig {
        eosTokenIds = List.copyOf(eosTokenIds);
    }

    /** Reads and validates a Hugging Face {@code config.json}. */
    public static FalconMambaConfig fromJson(Path file) {
        return from(JsonFields.read(file));
    }

    /** Parses {@code json} (named {@code source} in errors). */
    public static FalconMambaConfig fromJson(String source, String json) {
        return from(JsonFields.parse(source, json));
    }

    static FalconMambaConfig from(JsonFields f) {
        String type = f.string("model_type");
        f.check(type.equals("falcon_mamba"), "model_type is '" + type + "', expected 'falcon_mamba'");
        int hidden = f.positive("hidden_size");
        int rank;
        if (f.has("time_step_rank") && !isAuto(f)) {
            rank = f.positive("time_step_rank");
        } else {
            rank = (hidden + 15) / 16;
        }
        int[] bos = f.tokenIds("bos_token_id");
        int[] pad = f.tokenIds("pad_token_id");
        return new FalconMambaConfig(
                f.positive("vocab_size"),
                hidden,
                f.positive("intermediate_size"),
                f.positive("num_hidden_layers"),
                f.positive("state_size"),
                f.positive("conv_kernel"),
                rank,
                f.number("layer_norm_epsilon"),
                f.number("mixer_rms_eps", 1e-6),
                f.bool("use_bias", false),
                f.bool("use_conv_bias", true),
                f.bool("tie_word_embeddings", false),
                bos.length > 0 ? bos[0] : -1,
                Arrays.stream(f.tokenIds("eos_token_id")).boxed().toList(),
                pad.length > 0 ? pad[0] : -1);
    }

    private static boolean isAuto(JsonFields f) {
        try {
            return f.string("time_step_rank").equals("auto");
        } catch (ConfigException notAString) {
            return false;
        }
    }
}
