package ai.kestrel.model.falconh1;

import ai.kestrel.engine.DType;
import ai.kestrel.engine.Scope;
import ai.kestrel.engine.io.Gguf;
import ai.kestrel.engine.io.GgufWriter;

import ai.kestrel.model.config.FalconH1Config;
import com.google.gson.Gson;
import com.google.gson.JsonObject;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.Function;

/**
 * Random-weight Falcon-H1 models of real configurations, for speed and memory work where the real weights
 * cannot be downloaded. Values are seeded per tensor name, so the Hugging Face folder and the GGUF file made
 * with one seed are the same model (the GGUF with the multipliers folded in, as llama.cpp's converter does).
 *
 * <p>Initialisation follows the model's own: matrices uniform with standard deviation 0.02, norms 1,
 * {@code A_log = log(1..H)}, {@code D = 1}, {@code dt_bias} the inverse softplus of a log-uniform dt in
 * [0.001, 0.1], conv1d uniform in {@code ±1/sqrt(W)}. The tokenizer is a byte-level one with Falcon's twelve
 * special tokens at ids 0-11 and the 256 bytes after them (no merges), padded with unused placeholder tokens up to
 * the configuration's vocabulary size: text round-trips, sizes are real, and llama.cpp (which requires as many
 * tokens as embedding rows) loads the GGUF files.
 */
public final class FalconH1Init {
    static final String[] SPECIALS = {"<|pad|>", "<|begin_of_text|>", "<|im_start|>", "<|im_end|>", ">>ABSTRACT<<", ">>INTRODUCTION<<",
        ">>SUMMARY<<", ">>COMMENT<<", ">>ANSWER<<", ">>QUESTION<<", ">>DOMAIN<<", "<|end_of_text|>"};

    private FalconH1Init() {
    }

    /** The seeded values of every HF tensor of {@code c}. */
    public static FalconH1Export.Values values(FalconH1Config c, long seed) {
        return (name, shape) -> {
            long n = 1;
            for (long d : shape) {
                n *= d;
            }
            float[] v = new float[Math.toIntExact(n)];
            SplittableRandom rnd = new SplittableRandom(seed * 1_000_003L + name.hashCode());
            if (name.endsWith("layernorm.weight") || name.endsWith("norm.weight")) {
                java.util.Arrays.fill(v, 1f);
            } else if (name.endsWith("A_log")) {
                for (int i = 0; i < v.length; i++) {
                    v[i] = (float) Math.log(i + 1);
                }
            } else if (name.endsWith("mamba.D")) {
                java.util.Arrays.fill(v, 1f);
            } else if (name.endsWith("dt_bias")) {
                for (int i = 0; i < v.length; i++) {
                    double dt = Math.exp(rnd.nextDouble(Math.log(1e-3), Math.log(1e-1)));
                    v[i] = (float) (dt + Math.log(-Math.expm1(-dt)));
                }
            } else if (name.contains("conv1d")) {
                double b = 1 / Math.sqrt(c.mambaDConv());
                for (int i = 0; i < v.length; i++) {
                    v[i] = (float) rnd.nextDouble(-b, b);
                }
            } else {
                double b = 0.02 * Math.sqrt(3);
                for (int i = 0; i < v.length; i++) {
                    v[i] = (float) rnd.nextDouble(-b, b);
                }
            }
            return v;
        };
    }

    /** The preset's config.json text (real keys, as a Hugging Face checkpoint has them). */
    public static String configJson(String preset) throws IOException {
        try (InputStream in = FalconH1Config.class.getResourceAsStream("presets/" + preset + ".json")) {
            if (in == null) {
                throw new IllegalArgumentException("unknown preset '" + preset + "'; known: " + String.join(", ", FalconH1Config.PRESETS));
            }
            JsonObject o = new Gson().fromJson(new String(in.readAllBytes(), StandardCharsets.UTF_8), JsonObject.class);
            o.addProperty("torch_dtype", "bfloat16");
            // straight from the JSON tree: a detour through Map turns every integer into a double ("hidden_size": 1024.0),
            // which transformers would pass on to torch as floats
            return new com.google.gson.GsonBuilder().setPrettyPrinting().disableHtmlEscaping().create().toJson(o);
        }
    }

    /**
     * The synthetic tokenizer's vocabulary of {@code size} tokens: specials, the byte-level characters of bytes
     * 0-255, then {@code <|unused_ID|>} placeholders (no merges produce them, so encoding never does).
     */
    static List<String> vocab(int size) {
        List<String> v = new ArrayList<>(List.of(SPECIALS));
        for (int b = 0; b < 256; b++) {
            v.add(String.valueOf(byteChar(b)));
        }
        if (size < v.size()) {
            throw new IllegalArgumentException("vocab_size " + size + " is smaller than the synthetic tokenizer's " + v.size() + " tokens");
        }
        for (int id = v.size(); id < size; id++) {
            v.add("<|unused_" + id + "|>");
        }
        return v;
    }

    /** GGUF token types: control for the specials, normal for the bytes, unused for the placeholders. */
    static List<Long> tokenTypes(int size) {
        List<Long> types = new ArrayList<>(size);
        for (int i = 0; i < size; i++) {
            types.add(i < SPECIALS.length ? 3L : i < SPECIALS.length + 256 ? 1L : 5L);
        }
        return types;
    }

    private static char byteChar(int b) {
        int next = 256;
        for (int x = 0; x < 256; x++) {
            boolean printable = (x >= 33 && x <= 126) || (x >= 161 && x <= 172) || (x >= 174);
            char ch = printable ? (char) x : (char) next++;
            if (x == b) {
                return ch;
            }
        }
        throw new IllegalStateException();
    }

    static String tokenizerJson(int vocabSize) {
        List<String> vocab = vocab(vocabSize);
        Map<String, Object> root = new LinkedHashMap<>();
        List<Map<String, Object>> added = new ArrayList<>();
        for (int i = 0; i < SPECIALS.length; i++) {
            added.add(Map.of("id", i, "content", SPECIALS[i], "single_word", false, "lstrip", false, "rstrip", false, "normalized", false, "special", true));
        }
        root.put("version", "1.0");
        root.put("added_tokens", added);
        root.put("normalizer", null);
        root.put("pre_tokenizer", Map.of("type", "Sequence", "pretokenizers", List.of(
                Map.of("type", "Split", "pattern", Map.of("Regex", ai.kestrel.model.tokenizer.Tokenizer.LLAMA3_PATTERN), "behavior", "Isolated", "invert", false),
                Map.of("type", "ByteLevel", "add_prefix_space", false, "trim_offsets", true, "use_regex", false))));
        root.put("decoder", Map.of("type", "ByteLevel", "add_prefix_space", true, "trim_offsets", true, "use_regex", true));
        Map<String, Integer> v = new LinkedHashMap<>();
        for (int i = 0; i < vocab.size(); i++) {
            v.put(vocab.get(i), i);
        }
        root.put("model", Map.of("type", "BPE", "vocab", v, "merges", List.of(), "ignore_merges", true));
        return new com.google.gson.GsonBuilder().serializeNulls().disableHtmlEscaping().create().toJson(root);
    }

    static String tokenizerConfigJson() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("add_bos_token", false);
        m.put("bos_token", "<|begin_of_text|>");
        m.put("eos_token", "<|end_of_text|>");
        m.put("pad_token", "<|pad|>");
        m.put("chat_template", "{{bos_token}}{%- if messages[0].role == 'system' %}{{- '<|im_start|>system\\n' + messages[0].content + '<|im_end|>\\n' }}{%- endif %}\n"
                + "{% for message in messages %}{%- if message.role != 'system' %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{%- endif %}{% endfor %}\n"
                + "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}");
        return FalconH1Export.json(m);
    }

    /** Writes the synthetic tokenizer of {@code vocabSize} tokens as GGUF metadata (llama.cpp's keys). */
    static Function<GgufWriter, GgufWriter> ggufTokenizer(int vocabSize) {
        List<String> vocab = vocab(vocabSize);
        List<Long> types = tokenTypes(vocabSize);
        return w -> w.putString("tokenizer.ggml.model", "gpt2")
                .putString("tokenizer.ggml.pre", "falcon-h1")
                .putArray("tokenizer.ggml.tokens", Gguf.ValueType.STRING, vocab)
                .putArray("tokenizer.ggml.token_type", Gguf.ValueType.I32, types)
                .putArray("tokenizer.ggml.merges", Gguf.ValueType.STRING, List.of())
                .putU32("tokenizer.ggml.bos_token_id", 1).putU32("tokenizer.ggml.eos_token_id", 11)
                .putU32("tokenizer.ggml.padding_token_id", 0).putBool("tokenizer.ggml.add_bos_token", false);
    }

    /** Writes a random model of {@code preset}: a Hugging Face folder, or a GGUF file when {@code out} ends in .gguf. */
    public static void write(String preset, Path out, DType dtype, long seed) throws IOException {
        FalconH1Config c = FalconH1Config.preset(preset);
        try (Scope s = Scope.open()) {
            if (out.getFileName().toString().endsWith(".gguf")) {
                FalconH1Export.writeGguf(out, c, values(c, seed), dtype, ggufTokenizer(c.vocabSize()), "random " + preset);
            } else {
                FalconH1Export.writeHuggingFace(out, c, configJson(preset), values(c, seed), dtype,
                        Map.of("tokenizer.json", tokenizerJson(c.vocabSize()), "tokenizer_config.json", tokenizerConfigJson()));
            }
        }
    }

}
