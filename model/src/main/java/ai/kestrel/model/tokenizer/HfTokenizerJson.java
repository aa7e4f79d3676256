package ai.kestrel.model.tokenizer;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Reads a Hugging Face {@code tokenizer.json} (byte-level BPE): added tokens, normalizer (none), the
 * pre-tokenizer pipeline, and the BPE model. Anything outside what Kestrel implements is an error naming the
 * file and the field, never a silently different tokenization.
 */
final class HfTokenizerJson {
    private HfTokenizerJson() {
    }

    static Tokenizer read(Path file) throws IOException {
        String name = file.toString();
        String text;
        try {
            text = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(Files.readAllBytes(file))).toString();
        } catch (CharacterCodingException e) {
            throw new TokenizerException(name + ": not valid UTF-8");
        }
        JsonObject root;
        try {
            JsonElement el = JsonParser.parseString(text);
            if (!el.isJsonObject()) {
                throw new TokenizerException(name + ": expected a JSON object");
            }
            root = el.getAsJsonObject();
        } catch (RuntimeException e) {
            if (e instanceof TokenizerException te) {
                throw te;
            }
            throw new TokenizerException(name + ": not valid JSON (" + e.getMessage() + ")");
        }
        return parse(name, root);
    }

    static Tokenizer parse(String name, JsonObject root) {
        JsonElement norm = root.get("normalizer");
        if (norm != null && !norm.isJsonNull()) {
            throw new TokenizerException(name + ": normalizer type '" + type(name, "normalizer", norm) + "' is not supported (byte-level BPE tokenizers have none)");
        }
        List<PreTokenizer> pre = new ArrayList<>();
        JsonElement p = root.get("pre_tokenizer");
        if (p != null && !p.isJsonNull()) {
            preTokenizer(name, "pre_tokenizer", p, pre);
        }
        JsonElement decoder = root.get("decoder");
        if (decoder != null && !decoder.isJsonNull() && !type(name, "decoder", decoder).equals("ByteLevel")) {
            throw new TokenizerException(name + ": decoder type '" + type(name, "decoder", decoder) + "' is not supported (ByteLevel is)");
        }
        JsonObject model = object(name, "model", root.get("model"));
        String mt = model.has("type") ? model.get("type").getAsString() : "BPE";
        if (!mt.equals("BPE")) {
            throw new TokenizerException(name + ": model type '" + mt + "' is not supported (BPE is)");
        }
        for (String k : new String[] {"continuing_subword_prefix", "end_of_word_suffix"}) {
            if (model.has(k) && !model.get(k).isJsonNull() && !model.get(k).getAsString().isEmpty()) {
                throw new TokenizerException(name + ": model." + k + " is not supported");
            }
        }
        if (model.has("byte_fallback") && model.get("byte_fallback").getAsBoolean()) {
            throw new TokenizerException(name + ": model.byte_fallback is not supported (byte-level BPE needs no fallback)");
        }
        JsonObject v = object(name, "model.vocab", model.get("vocab"));
        Map<String, Integer> vocab = new HashMap<>(v.size() * 2);
        for (var e : v.entrySet()) {
            vocab.put(e.getKey(), e.getValue().getAsInt());
        }
        List<String[]> merges = new ArrayList<>();
        JsonElement m = model.get("merges");
        if (m != null && !m.isJsonNull()) {
            if (!m.isJsonArray()) {
                throw new TokenizerException(name + ": model.merges must be an array");
            }
            for (JsonElement e : m.getAsJsonArray()) {
                if (e.isJsonArray() && e.getAsJsonArray().size() == 2) {
                    merges.add(new String[] {e.getAsJsonArray().get(0).getAsString(), e.getAsJsonArray().get(1).getAsString()});
                } else if (e.isJsonPrimitive()) {
                    String s = e.getAsString();
                    int sp = s.indexOf(' ', 1);
                    if (sp < 0) {
                        throw new TokenizerException(name + ": merge '" + s + "' is not two tokens");
                    }
                    merges.add(new String[] {s.substring(0, sp), s.substring(sp + 1)});
                } else {
                    throw new TokenizerException(name + ": a merge must be \"a b\" or [\"a\", \"b\"], got " + e);
                }
            }
        }
        boolean ignoreMerges = model.has("ignore_merges") && model.get("ignore_merges").getAsBoolean();
        Integer unk = null;
        if (model.has("unk_token") && !model.get("unk_token").isJsonNull()) {
            unk = vocab.get(model.get("unk_token").getAsString());
        }
        List<AddedToken> added = new ArrayList<>();
        JsonElement at = root.get("added_tokens");
        if (at != null && at.isJsonArray()) {
            for (JsonElement e : at.getAsJsonArray()) {
                JsonObject o = e.getAsJsonObject();
                added.add(new AddedToken(o.get("id").getAsInt(), o.get("content").getAsString(), bool(o, "special"),
                        bool(o, "lstrip"), bool(o, "rstrip"), bool(o, "single_word")));
            }
        }
        try {
            return new Tokenizer(name, pre, vocab, merges, ignoreMerges, unk, added);
        } catch (IllegalArgumentException e) {
            throw new TokenizerException(name + ": " + e.getMessage());
        }
    }

    private static boolean bool(JsonObject o, String k) {
        return o.has(k) && !o.get(k).isJsonNull() && o.get(k).getAsBoolean();
    }

    private static JsonObject object(String name, String field, JsonElement e) {
        if (e == null || !e.isJsonObject()) {
            throw new TokenizerException(name + ": " + field + " must be an object");
        }
        return e.getAsJsonObject();
    }

    private static String type(String name, String field, JsonElement e) {
        JsonObject o = object(name, field, e);
        if (!o.has("type")) {
            throw new TokenizerException(name + ": " + field + " has no type");
        }
        return o.get("type").getAsString();
    }

    private static void preTokenizer(String name, String field, JsonElement e, List<PreTokenizer> out) {
        JsonObject o = object(name, field, e);
        String t = type(name, field, e);
        switch (t) {
            case "Sequence" -> {
                JsonArray a = o.getAsJsonArray("pretokenizers");
                for (int i = 0; i < a.size(); i++) {
                    preTokenizer(name, field + ".pretokenizers[" + i + "]", a.get(i), out);
                }
            }
            case "Split" -> {
                JsonObject pat = object(name, field + ".pattern", o.get("pattern"));
                java.util.regex.Pattern pattern;
                if (pat.has("Regex")) {
                    try {
                        pattern = PreTokenizer.compile(pat.get("Regex").getAsString());
                    } catch (java.util.regex.PatternSyntaxException ex) {
                        throw new TokenizerException(name + ": " + field + ".pattern.Regex does not compile: " + ex.getDescription());
                    }
                } else if (pat.has("String")) {
                    pattern = java.util.regex.Pattern.compile(java.util.regex.Pattern.quote(pat.get("String").getAsString()));
                } else {
                    throw new TokenizerException(name + ": " + field + ".pattern must have Regex or String");
                }
                out.add(new PreTokenizer.Split(pattern, behavior(name, field, o), bool(o, "invert")));
            }
            case "ByteLevel" -> out.add(new PreTokenizer.ByteLevelStep(bool(o, "add_prefix_space"),
                    !o.has("use_regex") || o.get("use_regex").getAsBoolean()));
            case "Punctuation" -> out.add(new PreTokenizer.Punctuation(behavior(name, field, o)));
            case "Digits" -> out.add(new PreTokenizer.Digits(bool(o, "individual_digits")));
            default -> throw new TokenizerException(name + ": " + field + " type '" + t + "' is not supported");
        }
    }

    private static PreTokenizer.Behavior behavior(String name, String field, JsonObject o) {
        try {
            return PreTokenizer.Behavior.parse(o.has("behavior") ? o.get("behavior").getAsString() : "Isolated");
        } catch (IllegalArgumentException e) {
            throw new TokenizerException(name + ": " + field + ".behavior: " + e.getMessage());
        }
    }
}
