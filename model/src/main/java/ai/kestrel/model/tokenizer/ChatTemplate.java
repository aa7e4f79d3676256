package ai.kestrel.model.tokenizer;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.interpret.FatalTemplateErrorsException;
import com.hubspot.jinjava.lib.fn.ELFunctionDefinition;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A chat template from {@code tokenizer_config.json}, rendered with Jinjava the way transformers renders it
 * ({@code trim_blocks} and {@code lstrip_blocks} on; {@code messages}, {@code add_generation_prompt},
 * {@code bos_token}, {@code eos_token} and {@code raise_exception} in scope).
 */
public final class ChatTemplate {
    /** One turn of a conversation. */
    public record Message(String role, String content) {
    }

    private final String template;
    private final String bos;
    private final String eos;
    private final Jinjava jinja;

    public ChatTemplate(String template, String bosToken, String eosToken) {
        this.template = template;
        this.bos = bosToken == null ? "" : bosToken;
        this.eos = eosToken == null ? "" : eosToken;
        JinjavaConfig config = JinjavaConfig.newBuilder().withTrimBlocks(true).withLstripBlocks(true).build();
        this.jinja = new Jinjava(config);
        jinja.getGlobalContext().registerFunction(new ELFunctionDefinition("", "raise_exception", ChatTemplate.class, "raise", String.class));
    }

    /** Called by templates as {@code raise_exception(msg)}. */
    public static String raise(String message) {
        throw new IllegalArgumentException("chat template: " + message);
    }

    /**
     * The template of a {@code tokenizer_config.json} ({@code chat_template} as a string, or the entry named
     * "default" of a list), or {@code null} when it has none; bos/eos token names come from the same file
     * (strings or {@code {"content": ...}} objects).
     */
    public static ChatTemplate fromTokenizerConfig(Path file) throws IOException {
        JsonObject o;
        try {
            o = JsonParser.parseString(Files.readString(file)).getAsJsonObject();
        } catch (RuntimeException e) {
            throw new TokenizerException(file + ": not a JSON object (" + e.getMessage() + ")");
        }
        JsonElement t = o.get("chat_template");
        Path jinjaFile = file.resolveSibling("chat_template.jinja");
        String template = null;
        if (t != null && t.isJsonPrimitive()) {
            template = t.getAsString();
        } else if (t != null && t.isJsonArray()) {
            for (JsonElement e : t.getAsJsonArray()) {
                JsonObject n = e.getAsJsonObject();
                if (n.has("name") && n.get("name").getAsString().equals("default")) {
                    template = n.get("template").getAsString();
                }
            }
        } else if (Files.isRegularFile(jinjaFile)) {
            template = Files.readString(jinjaFile);
        }
        if (template == null) {
            return null;
        }
        return new ChatTemplate(template, token(o.get("bos_token")), token(o.get("eos_token")));
    }

    private static String token(JsonElement e) {
        if (e == null || e.isJsonNull()) {
            return null;
        }
        if (e.isJsonObject()) {
            return e.getAsJsonObject().get("content").getAsString();
        }
        return e.getAsString();
    }

    /** The template text. */
    public String template() {
        return template;
    }

    /** Renders {@code messages}; with {@code addGenerationPrompt}, ends with the assistant's turn opened. */
    public String render(List<Message> messages, boolean addGenerationPrompt) {
        List<Map<String, Object>> ms = new ArrayList<>();
        for (Message m : messages) {
            Map<String, Object> e = new LinkedHashMap<>();
            e.put("role", m.role());
            e.put("content", m.content());
            ms.add(e);
        }
        Map<String, Object> ctx = new HashMap<>();
        ctx.put("messages", ms);
        ctx.put("add_generation_prompt", addGenerationPrompt);
        ctx.put("bos_token", bos);
        ctx.put("eos_token", eos);
        try {
            var result = jinja.renderForResult(template, ctx);
            if (result.hasErrors()) {
                var err = result.getErrors().get(0);
                // a raise_exception(...) from the template carries its own message deep in the cause chain
                String msg = err.getMessage();
                for (Throwable c = err.getException(); c != null; c = c.getCause()) {
                    if (c instanceof IllegalArgumentException && c.getMessage() != null && c.getMessage().startsWith("chat template: ")) {
                        msg = c.getMessage().substring("chat template: ".length());
                    }
                }
                throw new TokenizerException("chat template: " + msg + (err.getLineno() > 0 ? " (line " + err.getLineno() + ")" : ""));
            }
            return result.getOutput();
        } catch (FatalTemplateErrorsException e) {
            throw new TokenizerException("chat template: " + e.getMessage(), e);
        }
    }
}
