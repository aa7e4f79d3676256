package ai.kestrel.model.testing;

import ai.kestrel.engine.Autograd;
import ai.kestrel.engine.Scope;
import ai.kestrel.engine.Tensor;
import ai.kestrel.model.LanguageModel;
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

    /**
     * The logits of each cached single-token step after a prefill of {@code prompt}: step s feeds {@code greedy[s]}
     * (all but the last greedy id), as llama.cpp's {@code step_logits} were made.
     */
    public static float[][] cachedStepLogits(LanguageModel model, int[] prompt, int[] greedy) {
        List<float[]> steps = new ArrayList<>();
        try (LanguageModel.Cache cache = model.newCache(1, prompt.length + greedy.length);
             var ng = Autograd.noGrad()) {
            try (Scope s = Scope.open()) {
                model.forward(Tensor.ofInts(prompt, 1, prompt.length), cache);
            }
            for (int step = 0; step + 1 < greedy.length; step++) {
                try (Scope s = Scope.open()) {
                    steps.add(model.forward(Tensor.ofInts(new int[] {greedy[step]}, 1, 1), cache).toFloatArray());
                }
            }
        }
        return steps.toArray(new float[0][]);
    }

    public static double maxAbs(float[][] rows) {
        double m = 0;
        for (float[] r : rows) {
            for (float v : r) {
                m = Math.max(m, Math.abs(v));
            }
        }
        return m;
    }

    public static void compare(String what, float[][] expected, float[][] got, double tol) {
        double worst = 0;
        int at = -1;
        int col = -1;
        for (int t = 0; t < expected.length; t++) {
            for (int v = 0; v < expected[t].length; v++) {
                double d = Math.abs(expected[t][v] - got[t][v]);
                if (d > worst) {
                    worst = d;
                    at = t;
                    col = v;
                }
            }
        }
        if (worst > tol) {
            org.junit.jupiter.api.Assertions.fail(String.format("%s: max |diff| %.3g > %.3g at position %d, logit %d (expected %.6f, got %.6f)", what, worst, tol, at, col,
                    expected[at][col], got[at][col]));
        }
        System.out.printf("%s: max |diff| %.3g (tolerance %.3g)%n", what, worst, tol);
    }

    /** How many positions (rows) of {@code got} are within {@code tol} of {@code expected} in every logit. */
    public static int positionsWithin(float[][] expected, float[][] got, double tol) {
        int n = 0;
        for (int t = 0; t < expected.length; t++) {
            boolean close = true;
            for (int c = 0; c < expected[t].length && close; c++) {
                close = Math.abs(expected[t][c] - got[t][c]) <= tol;
            }
            n += close ? 1 : 0;
        }
        return n;
    }

    /** The logits of one uncached forward pass over {@code ids}, one row per position. */
    public static float[][] logits(LanguageModel model, int[] ids) {
        try (var ng = Autograd.noGrad(); Scope s = Scope.open()) {
            float[] all = model.forward(Tensor.ofInts(ids, 1, ids.length), null).toFloatArray();
            int v = all.length / ids.length;
            float[][] r = new float[ids.length][];
            for (int t = 0; t < ids.length; t++) {
                r[t] = java.util.Arrays.copyOfRange(all, t * v, (t + 1) * v);
            }
            return r;
        }
    }

    /** Opens a GGUF fixture file as a model. */
    public interface GgufLoader {
        LanguageModel load(Path file) throws IOException;
    }

    /**
     * For each 16-bit and Q8_0 GGUF variant of {@code models}, over all their prompts: how many positions agree with
     * llama.cpp in every logit to 1e-4, computed with {@link ai.kestrel.engine.ops.Numerics#GGML} (as loaded) and
     * again with {@link ai.kestrel.engine.ops.Numerics#TRANSFORMERS}.
     */
    public static Agreement agreement(List<String> models, GgufLoader loader) throws IOException {
        java.util.Map<String, int[]> counts = new java.util.LinkedHashMap<>();
        for (String variant : List.of("f16", "bf16", "q8_0")) {
            int[] c = new int[3];
            for (String m : models) {
                Fixture f = Fixture.of(m);
                try (LanguageModel model = loader.load(f.file("model-" + variant + ".gguf"))) {
                    org.junit.jupiter.api.Assertions.assertEquals(ai.kestrel.engine.ops.Numerics.GGML, model.numerics(), m + " " + variant);
                    for (Prompt p : f.prompts(variant)) {
                        c[0] += positionsWithin(p.logits(), logits(model, p.inputIds()), 1e-4);
                        c[2] += p.inputIds().length;
                    }
                    model.setNumerics(ai.kestrel.engine.ops.Numerics.TRANSFORMERS);
                    for (Prompt p : f.prompts(variant)) {
                        c[1] += positionsWithin(p.logits(), logits(model, p.inputIds()), 1e-4);
                    }
                }
            }
            counts.put(variant, c);
        }
        return new Agreement(counts);
    }

    /** Per variant: positions within 1e-4 of llama.cpp as llama.cpp computes, with float32 inputs, and in all. */
    public record Agreement(java.util.Map<String, int[]> counts) {
        /**
         * At least {@code fraction} of all positions agree as llama.cpp computes; with {@code fewerWithFloat32}, fewer
         * agree with float32 inputs (where the file holds F16 / BF16 products; Q8_0 products round either way).
         */
        public void require(String variant, double fraction, boolean fewerWithFloat32) {
            int[] c = counts.get(variant);
            String what = variant + ": " + c[0] + " of " + c[2] + " positions within 1e-4 of llama.cpp as llama.cpp computes, " + c[1]
                    + " with float32 inputs";
            org.junit.jupiter.api.Assertions.assertTrue(c[0] >= fraction * c[2], what + " (want at least " + fraction + " of them)");
            if (fewerWithFloat32) {
                org.junit.jupiter.api.Assertions.assertTrue(c[1] < c[0], what + " (want fewer with float32 inputs)");
            }
        }

        @Override
        public String toString() {
            StringBuilder b = new StringBuilder("positions within 1e-4 of llama.cpp (as llama.cpp computes / float32 inputs / all):");
            counts.forEach((v, c) -> b.append(' ').append(v).append(' ').append(c[0]).append(" / ").append(c[1]).append(" / ").append(c[2]).append(';'));
            return b.toString();
        }
    }

    /** README tolerances: f32 and HF within 1e-4; 16-bit and Q8_0 relative to the largest logit. */
    public static double tolerance(String variant, double maxLogit) {
        return switch (variant) {
            case "f32" -> 1e-4;
            case "f16" -> 5e-4 * maxLogit;
            case "bf16" -> 5e-3 * maxLogit;
            case "q8_0" -> 1.5e-2 * maxLogit;
            default -> throw new IllegalArgumentException(variant);
        };
    }

}
