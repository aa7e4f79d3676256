package ai.kestrel.model;

import ai.kestrel.engine.Scope;
import ai.kestrel.engine.io.Gguf;
import ai.kestrel.model.config.ConfigException;
import ai.kestrel.model.falconh1.FalconH1Loader;
import ai.kestrel.model.falconmamba.FalconMambaLoader;
import ai.kestrel.model.tokenizer.ChatTemplate;
import ai.kestrel.model.tokenizer.Tokenizer;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Opens what users have: a Hugging Face model folder ({@code config.json} decides between Falcon-H1 and
 * Falcon-Mamba) or a {@code .gguf} file ({@code general.architecture} decides), with its tokenizer, chat
 * template and end-of-text ids.
 */
public final class ModelLoader {
    private ModelLoader() {
    }

    /** Loads the model at {@code path}; a bad path or file is an exception with a one-line message. */
    public static LoadedModel load(Path path) throws IOException {
        if (Files.isDirectory(path)) {
            return loadFolder(path);
        }
        if (Files.isRegularFile(path) && path.getFileName().toString().toLowerCase().endsWith(".gguf")) {
            return loadGguf(path);
        }
        if (!Files.exists(path)) {
            throw new IllegalArgumentException(path + ": no such file or folder");
        }
        throw new IllegalArgumentException(path + ": not a Hugging Face model folder (with config.json) or a .gguf file");
    }

    private static LoadedModel loadFolder(Path dir) throws IOException {
        Path cfg = dir.resolve("config.json");
        if (!Files.isRegularFile(cfg)) {
            throw new IllegalArgumentException(dir + ": no config.json in this folder");
        }
        JsonObject config = json(cfg);
        String type = config.has("model_type") ? config.get("model_type").getAsString() : "";
        LanguageModel model = switch (type) {
            case "falcon_h1" -> FalconH1Loader.fromHuggingFace(dir);
            case "falcon_mamba" -> FalconMambaLoader.fromHuggingFace(dir);
            default -> throw new ConfigException(cfg + ": model_type '" + type + "' is not one Kestrel runs (falcon_h1, falcon_mamba)");
        };
        try {
            Tokenizer tok = Files.isRegularFile(dir.resolve("tokenizer.json")) ? Tokenizer.fromJson(dir.resolve("tokenizer.json")) : null;
            Path tc = dir.resolve("tokenizer_config.json");
            ChatTemplate template = Files.isRegularFile(tc) ? ChatTemplate.fromTokenizerConfig(tc) : null;
            Set<Integer> eos = new HashSet<>(ids(config.get("eos_token_id")));
            Path gen = dir.resolve("generation_config.json");
            if (Files.isRegularFile(gen)) {
                eos.addAll(ids(json(gen).get("eos_token_id")));
            }
            if (tok != null && Files.isRegularFile(tc)) {
                JsonElement e = json(tc).get("eos_token");
                String name = e == null || e.isJsonNull() ? null : e.isJsonObject() ? e.getAsJsonObject().get("content").getAsString() : e.getAsString();
                if (name != null) {
                    tok.id(name).ifPresent(eos::add);
                }
            }
            int bos = config.has("bos_token_id") && !config.get("bos_token_id").isJsonNull() ? config.get("bos_token_id").getAsInt() : -1;
            return new LoadedModel(dir, model, tok, template, eos, bos, false);
        } catch (IOException | RuntimeException e) {
            model.close();
            throw e;
        }
    }

    private static LoadedModel loadGguf(Path file) throws IOException {
        String arch;
        Tokenizer tok;
        ChatTemplate template = null;
        Set<Integer> eos = new HashSet<>();
        int bos;
        boolean addBos;
        try (Scope s = Scope.detached("gguf header")) {
            Gguf g = Gguf.open(file, s);
            arch = g.getString("general.architecture");
            tok = g.metadata().containsKey("tokenizer.ggml.model") ? Tokenizer.fromGguf(g.metadata(), file.getFileName().toString()) : null;
            if (g.metadata().get("tokenizer.chat_template") instanceof String t) {
                String bosName = tok == null || !g.metadata().containsKey("tokenizer.ggml.bos_token_id") ? "" : tok.token((int) g.getLong("tokenizer.ggml.bos_token_id"));
                String eosName = tok == null || !g.metadata().containsKey("tokenizer.ggml.eos_token_id") ? "" : tok.token((int) g.getLong("tokenizer.ggml.eos_token_id"));
                template = new ChatTemplate(t, bosName, eosName);
            }
            for (String k : List.of("tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id")) {
                if (g.metadata().containsKey(k)) {
                    eos.add((int) g.getLong(k));
                }
            }
            bos = (int) g.getLong("tokenizer.ggml.bos_token_id", -1);
            addBos = g.getBool("tokenizer.ggml.add_bos_token", false);
        }
        LanguageModel model = switch (arch) {
            case "falcon-h1" -> FalconH1Loader.fromGguf(file);
            case "mamba" -> FalconMambaLoader.fromGguf(file);
            default -> throw new IllegalArgumentException(file.getFileName() + ": architecture '" + arch + "' is not one Kestrel runs (falcon-h1, mamba)");
        };
        return new LoadedModel(file, model, tok, template, eos, bos, addBos);
    }

    private static JsonObject json(Path p) throws IOException {
        try {
            return JsonParser.parseString(Files.readString(p)).getAsJsonObject();
        } catch (RuntimeException e) {
            throw new ConfigException(p + ": not a JSON object (" + e.getMessage() + ")");
        }
    }

    private static List<Integer> ids(JsonElement e) {
        if (e == null || e.isJsonNull()) {
            return List.of();
        }
        if (e.isJsonArray()) {
            return e.getAsJsonArray().asList().stream().map(JsonElement::getAsInt).toList();
        }
        return List.of(e.getAsInt());
    }
}
