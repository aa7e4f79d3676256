package ai.kestrel.model.config;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import com.google.gson.JsonPrimitive;
import java.io.IOException;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Typed access to the fields of one JSON object read from a named source; every error names the source and
 * the field ("config.json: field 'hidden_size' must be an integer, got string \"64\"").
 */
final class JsonFields {
    private final String source;
    private final JsonObject obj;

    JsonFields(String source, JsonObject obj) {
        this.source = source;
        this.obj = obj;
    }

    /** Reads {@code file} as strict UTF-8 JSON holding an object. */
    static JsonFields read(Path file) {
        String name = file.toString();
        String text;
        try {
            byte[] bytes = Files.readAllBytes(file);
            text = StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(java.nio.ByteBuffer.wrap(bytes)).toString();
        } catch (CharacterCodingException e) {
            throw new ConfigException(name + ": not valid UTF-8");
        } catch (IOException e) {
            throw new ConfigException(name + ": cannot read (" + e.getMessage() + ")", e);
        }
        return parse(name, text);
    }

    /** Parses {@code text} (from {@code source}) as a JSON object. */
    static JsonFields parse(String source, String text) {
        JsonElement root;
        try {
            root = JsonParser.parseString(text);
        } catch (JsonParseException e) {
            throw new ConfigException(source + ": not valid JSON (" + e.getMessage() + ")", e);
        }
        if (!root.isJsonObject()) {
            throw new ConfigException(source + ": expected a JSON object at the top level");
        }
        return new JsonFields(source, root.getAsJsonObject());
    }

    String source() {
        return source;
    }

    boolean has(String key) {
        return obj.has(key) && !obj.get(key).isJsonNull();
    }

    private JsonElement require(String key) {
        if (!obj.has(key)) {
            throw new ConfigException(source + ": missing field '" + key + "'");
        }
        JsonElement e = obj.get(key);
        if (e.isJsonNull()) {
            throw new ConfigException(source + ": field '" + key + "' is null");
        }
        return e;
    }

    private ConfigException mistyped(String key, String expected, JsonElement got) {
        String kind = got.isJsonArray() ? "array" : got.isJsonObject() ? "object"
                : got.getAsJsonPrimitive().isString() ? "string" : got.getAsJsonPrimitive().isBoolean() ? "boolean" : "number";
        String shown = got.toString();
        if (shown.length() > 40) {
            shown = shown.substring(0, 40) + "...";
        }
        return new ConfigException(source + ": field '" + key + "' must be " + expected + ", got " + kind + " " + shown);
    }

    private static boolean isNumber(JsonElement e) {
        return e.isJsonPrimitive() && e.getAsJsonPrimitive().isNumber();
    }

    int integer(String key) {
        JsonElement e = require(key);
        return toInt(key, e);
    }

    private int toInt(String key, JsonElement e) {
        if (!isNumber(e)) {
            throw mistyped(key, "an integer", e);
        }
        double d = e.getAsDouble();
        if (d != Math.rint(d) || Math.abs(d) > Integer.MAX_VALUE) {
            throw mistyped(key, "an integer", e);
        }
        return (int) d;
    }

    int integer(String key, int fallback) {
        return has(key) ? integer(key) : fallback;
    }

    /** A positive integer. */
    int positive(String key) {
        int v = integer(key);
        if (v <= 0) {
            throw new ConfigException(source + ": field '" + key + "' must be positive, got " + v);
        }
        return v;
    }

    double number(String key) {
        JsonElement e = require(key);
        if (!isNumber(e)) {
            throw mistyped(key, "a number", e);
        }
        return e.getAsDouble();
    }

    double number(String key, double fallback) {
        return has(key) ? number(key) : fallback;
    }

    boolean bool(String key) {
        JsonElement e = require(key);
        if (!(e.isJsonPrimitive() && e.getAsJsonPrimitive().isBoolean())) {
            throw mistyped(key, "true or false", e);
        }
        return e.getAsBoolean();
    }

    boolean bool(String key, boolean fallback) {
        return has(key) ? bool(key) : fallback;
    }

    String string(String key) {
        JsonElement e = require(key);
        if (!(e.isJsonPrimitive() && ((JsonPrimitive) e).isString())) {
            throw mistyped(key, "a string", e);
        }
        return e.getAsString();
    }

    /** A list of exactly {@code n} numbers. */
    double[] numbers(String key, int n) {
        JsonElement e = require(key);
        if (!e.isJsonArray()) {
            throw mistyped(key, "an array of " + n + " numbers", e);
        }
        JsonArray a = e.getAsJsonArray();
        if (a.size() != n) {
            throw new ConfigException(source + ": field '" + key + "' must hold " + n + " numbers, got " + a.size());
        }
        double[] out = new double[n];
        for (int i = 0; i < n; i++) {
            if (!isNumber(a.get(i))) {
                throw mistyped(key + "[" + i + "]", "a number", a.get(i));
            }
            out[i] = a.get(i).getAsDouble();
        }
        return out;
    }

    /** One id or a list of ids (HF allows {@code eos_token_id: [11, 228]}); empty when absent or null. */
    int[] tokenIds(String key) {
        if (!has(key)) {
            return new int[0];
        }
        JsonElement e = obj.get(key);
        if (e.isJsonArray()) {
            JsonArray a = e.getAsJsonArray();
            int[] out = new int[a.size()];
            for (int i = 0; i < out.length; i++) {
                out[i] = toInt(key + "[" + i + "]", a.get(i));
            }
            return out;
        }
        return new int[] {toInt(key, e)};
    }

    /** Throws unless {@code cond}; {@code what} explains the rule broken. */
    void check(boolean cond, String what) {
        if (!cond) {
            throw new ConfigException(source + ": " + what);
        }
    }
}
