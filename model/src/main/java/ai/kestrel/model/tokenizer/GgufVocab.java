package ai.kestrel.model.tokenizer;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The tokenizer llama.cpp builds from GGUF metadata: {@code tokenizer.ggml.model = "gpt2"} (byte-level BPE),
 * {@code tokens}, {@code token_type}, {@code merges}, and the pre-tokenizer chosen by
 * {@code tokenizer.ggml.pre} (llama.cpp {@code llama-vocab.cpp}: a list of regexes, each splitting the text
 * further and keeping what it does not match). CONTROL (3) and USER_DEFINED (4) tokens are matched in the
 * raw text first.
 */
final class GgufVocab {
    static final int CONTROL = 3;
    static final int USER_DEFINED = 4;

    /** llama.cpp's LLAMA3 pre-tokenizer regex (also Hugging Face's Split for Falcon-H1). */
    static final String LLAMA3 = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    static final String GPT2 = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";

    private GgufVocab() {
    }

    /** The regexes of a {@code tokenizer.ggml.pre} value, and whether it ignores merges for whole-vocab words. */
    record Pre(List<String> regexes, boolean ignoreMerges) {
    }

    static Pre pre(String type, String source) {
        return switch (type) {
            case "falcon-h1", "llama3", "llama-bpe" -> new Pre(List.of(LLAMA3), true);
            case "falcon" -> new Pre(List.of("[\\p{P}\\$\\+<=>\\^~\\|`]+", GPT2, "[0-9][0-9][0-9]"), false);
            case "gpt2", "default" -> new Pre(List.of(GPT2 + "|\\s+"), false);
            default -> throw new TokenizerException(source + ": tokenizer.ggml.pre '" + type + "' is not supported (falcon-h1, llama3, falcon, gpt2 are)");
        };
    }

    private static Object need(Map<String, Object> md, String key, String source) {
        Object v = md.get(key);
        if (v == null) {
            throw new TokenizerException(source + ": missing metadata '" + key + "'");
        }
        return v;
    }

    static Tokenizer build(Map<String, Object> md, String source) {
        Object model = need(md, "tokenizer.ggml.model", source);
        if (!"gpt2".equals(model)) {
            throw new TokenizerException(source + ": tokenizer.ggml.model '" + model + "' is not supported (gpt2 byte-level BPE is)");
        }
        Object preType = md.getOrDefault("tokenizer.ggml.pre", "default");
        Pre pre = pre(String.valueOf(preType), source);
        List<?> tokens = list(md, "tokenizer.ggml.tokens", source);
        List<?> types = md.containsKey("tokenizer.ggml.token_type") ? list(md, "tokenizer.ggml.token_type", source) : List.of();
        if (!types.isEmpty() && types.size() != tokens.size()) {
            throw new TokenizerException(source + ": tokenizer.ggml.token_type has " + types.size() + " entries for " + tokens.size() + " tokens");
        }
        Map<String, Integer> vocab = new HashMap<>(tokens.size() * 2);
        List<AddedToken> added = new ArrayList<>();
        for (int id = 0; id < tokens.size(); id++) {
            if (!(tokens.get(id) instanceof String s)) {
                throw new TokenizerException(source + ": tokenizer.ggml.tokens[" + id + "] is not a string");
            }
            int type = types.isEmpty() ? 1 : ((Number) types.get(id)).intValue();
            if (type == CONTROL || type == USER_DEFINED) {
                added.add(new AddedToken(id, s, type == CONTROL, false, false, false));
            }
            vocab.putIfAbsent(s, id);
        }
        List<String[]> merges = new ArrayList<>();
        for (Object o : md.containsKey("tokenizer.ggml.merges") ? list(md, "tokenizer.ggml.merges", source) : List.of()) {
            String s = String.valueOf(o);
            int sp = s.indexOf(' ', 1);
            if (sp < 0) {
                throw new TokenizerException(source + ": merge '" + s + "' is not two tokens");
            }
            merges.add(new String[] {s.substring(0, sp), s.substring(sp + 1)});
        }
        List<PreTokenizer> steps = new ArrayList<>();
        for (String r : pre.regexes()) {
            steps.add(new PreTokenizer.Split(PreTokenizer.compile(r), PreTokenizer.Behavior.ISOLATED, false));
        }
        try {
            return new Tokenizer(source, steps, vocab, merges, pre.ignoreMerges(), null, added);
        } catch (IllegalArgumentException e) {
            throw new TokenizerException(source + ": " + e.getMessage());
        }
    }

    private static List<?> list(Map<String, Object> md, String key, String source) {
        Object v = need(md, key, source);
        if (!(v instanceof List<?> l)) {
            throw new TokenizerException(source + ": metadata '" + key + "' is not an array");
        }
        return l;
    }
}
