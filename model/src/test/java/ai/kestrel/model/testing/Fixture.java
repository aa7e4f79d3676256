package ai.kestrel.model.testing;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;

/** A llama.cpp fixture model under testdata/fixtures and its expected.json (missing files fail, never skip). */
public final class Fixture {
    public static final List<String> MODELS = List.of("falcon-h1-g1", "falcon-h1-g2", "falcon-mamba");
    public static final List<String> VARIANTS = List.of("f32", "f16", "bf16", "q8_0");

    public final String name;
    public final Path dir;
    public final JsonObject expected;

    private Fixture(String name, Path dir, JsonObject expected) {
        this.name = name;
        this.dir = dir;
        this.expected = expected;
    }

    public static Fixture of(String name) {
        String root = System.getProperty("kestrel.testdata");
        if (root == null) {
            throw new IllegalStateException("system property kestrel.testdata is not set");
        }
        Path dir = Path.of(root, "fixtures", name);
        Path exp = dir.resolve("expected.json");
        if (!Files.isRegularFile(exp)) {
            throw new IllegalStateException("missing fixture " + exp);
        }
        try {
            return new Fixture(name, dir, JsonParser.parseString(Files.readString(exp)).getAsJsonObject());
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    public Path file(String f) {
        Path p = dir.resolve(f);
        if (!Files.exists(p)) {
            throw new IllegalStateException("missing fixture " + p);
        }
        return p;
    }

    /** A tokenization case: text and expected ids. */
    public record Case(String text, int[] ids) {
    }

    public List<Case> tokenization() {
        List<Case> out = new ArrayList<>();
        for (JsonElement e : expected.getAsJsonObject("tokenization").getAsJsonArray("cases")) {
            JsonObject o = e.getAsJsonObject();
            out.add(new Case(o.get("text").getAsString(), ints(o.getAsJsonArray("ids"))));
        }
        return out;
    }

    /** A prompt of a variant: input ids, per-position logits, greedy continuation. */
    public record Prompt(String name, int[] inputIds, float[][] logits, int[] greedy, float[] greedyMargin, float[][] stepLogits) {
    }

    public List<Prompt> prompts(String variant) {
        List<Prompt> out = new ArrayList<>();
        JsonObject v = expected.getAsJsonObject("variants").getAsJsonObject(variant);
        for (JsonElement e : v.getAsJsonArray("prompts")) {
            JsonObject o = e.getAsJsonObject();
            JsonObject g = o.getAsJsonObject("greedy");
            float[] logit = floats(g.getAsJsonArray("logit"));
            float[] runner = floats(g.getAsJsonArray("runner_up_logit"));
            float[] margin = new float[logit.length];
            for (int i = 0; i < margin.length; i++) {
                margin[i] = logit[i] - runner[i];
            }
            float[][] steps = g.has("step_logits_f32le_b64") ? rows(g.getAsJsonArray("step_logits_f32le_b64")) : null;
            out.add(new Prompt(o.get("name").getAsString(), ints(o.getAsJsonArray("input_ids")), rows(o.getAsJsonArray("logits_f32le_b64")),
                    ints(g.getAsJsonArray("ids")), margin, steps));
        }
        return out;
    }

    public int nVocab() {
        return expected.get("n_vocab").getAsInt();
    }

    static int[] ints(JsonArray a) {
        int[] r = new int[a.size()];
        for (int i = 0; i < r.length; i++) {
            r[i] = a.get(i).getAsInt();
        }
        return r;
    }

    static float[] floats(JsonArray a) {
        float[] r = new float[a.size()];
        for (int i = 0; i < r.length; i++) {
            r[i] = a.get(i).getAsFloat();
        }
        return r;
    }

    static float[][] rows(JsonArray a) {
        float[][] r = new float[a.size()][];
        for (int i = 0; i < r.length; i++) {
            FloatBuffer fb = ByteBuffer.wrap(Base64.getDecoder().decode(a.get(i).getAsString())).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer();
            r[i] = new float[fb.remaining()];
            fb.get(r[i]);
        }
        return r;
    }
}
