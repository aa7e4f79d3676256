package ai.kestrel.train.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** The command-line contract of ARCHITECTURE.md, on the fixtures. */
class CliTest {
    record Run(int code, String out, String err) {
    }

    static Run run(String... args) {
        PrintStream oldOut = System.out;
        PrintStream oldErr = System.err;
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        try {
            System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
            System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
            int code = Main.run(args);
            return new Run(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
        } finally {
            System.setOut(oldOut);
            System.setErr(oldErr);
        }
    }

    static String fixture(String name) {
        return Path.of(System.getProperty("kestrel.testdata"), "fixtures", name).toString();
    }

    @Test
    void tokenizePrintsIdsAsJson() {
        Run r = run("tokenize", "--model", fixture("falcon-h1-g1"), "--text", "Hello world");
        assertEquals(0, r.code(), r.err());
        assertEquals("{\"ids\":[84,274,120,123,286,120,112]}", r.out().strip());
    }

    @Test
    void logitsPrintsOneRowPerPosition() {
        Run r = run("logits", "--model", fixture("falcon-h1-g1") + "/model-f32.gguf", "--tokens", "1, 2,3");
        assertEquals(0, r.code(), r.err());
        JsonObject o = JsonParser.parseString(r.out()).getAsJsonObject();
        assertEquals(3, o.getAsJsonArray("logits").size());
        assertEquals(320, o.getAsJsonArray("logits").get(0).getAsJsonArray().size());
    }

    /** A GGUF computes as llama.cpp does unless --numerics says otherwise; a bad value is one clear line. */
    @Test
    void numericsOptionPicksWhoseArithmetic() {
        String[] base = {"logits", "--model", fixture("falcon-h1-g2") + "/model-bf16.gguf", "--tokens", "1,2,3"};
        JsonArray auto = logits(run(base));
        JsonArray ggml = logits(run(concat(base, "--numerics", "ggml")));
        JsonArray f32 = logits(run(concat(base, "--numerics", "transformers")));
        assertEquals(auto, ggml);
        double moved = 0;
        for (int t = 0; t < 3; t++) {
            for (int c = 0; c < 320; c++) {
                moved = Math.max(moved, Math.abs(ggml.get(t).getAsJsonArray().get(c).getAsDouble() - f32.get(t).getAsJsonArray().get(c).getAsDouble()));
            }
        }
        assertTrue(moved > 1e-3, "bf16 activations rounded or not: " + moved);
        Run bad = run(concat(base, "--numerics", "torch"));
        assertEquals(1, bad.code());
        assertEquals("kestrel logits: --numerics must be auto, ggml or transformers, got 'torch'", bad.err().strip());
    }

    private static JsonArray logits(Run r) {
        assertEquals(0, r.code(), r.err());
        return JsonParser.parseString(r.out()).getAsJsonObject().getAsJsonArray("logits");
    }

    @Test
    void generateJsonGivesGeneratedIdsAndText() {
        Run r = run("generate", "--model", fixture("falcon-mamba"), "--tokens", "5,6,7", "--max-new-tokens", "5", "--greedy", "--json", "--ignore-eos");
        assertEquals(0, r.code(), r.err());
        JsonObject o = JsonParser.parseString(r.out()).getAsJsonObject();
        assertEquals(5, o.getAsJsonArray("ids").size());
        assertTrue(o.has("text"));
    }

    /**
     * {@code --kv-cache f16} keeps the keys and values in half precision: the fixture's greedy continuation is the
     * same (its margins are far wider than the rounding moves a logit), and a bad value is one clear line.
     */
    @Test
    void kvCacheOptionKeepsHalfPrecisionKeysAndValues() {
        String[] base = {"generate", "--model", fixture("falcon-h1-g2"), "--tokens", "5,6,7,8,9", "--max-new-tokens", "6", "--greedy",
            "--json", "--ignore-eos"};
        Run f32 = run(base);
        Run f16 = run(concat(base, "--kv-cache", "f16"));
        assertEquals(0, f32.code(), f32.err());
        assertEquals(0, f16.code(), f16.err());
        JsonArray ids = JsonParser.parseString(f32.out()).getAsJsonObject().getAsJsonArray("ids");
        assertEquals(6, ids.size());
        assertEquals(ids, JsonParser.parseString(f16.out()).getAsJsonObject().getAsJsonArray("ids"));
        Run bad = run(concat(base, "--kv-cache", "q4"));
        assertEquals(1, bad.code());
        assertEquals("kestrel generate: --kv-cache must be f32 or f16, got 'q4'", bad.err().strip());
        ModelOptions o = new ModelOptions();
        o.model = Path.of(fixture("falcon-h1-g2"));
        o.device = "cpu";
        o.numerics = "auto";
        o.kvCache = "f16";
        try (ai.kestrel.model.LoadedModel m = o.load()) {
            assertEquals(ai.kestrel.engine.DType.F16, m.model().kvCacheType(), "the loaded model makes f16 caches");
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    @Test
    void deviceOptionSaysWhatItPickedAndWhatIsMissing() {
        String[] base = {"logits", "--model", fixture("falcon-h1-g1") + "/model-f32.gguf", "--tokens", "1,2"};
        Run bad = run(concat(base, "--device", "gpu"));
        assertEquals(1, bad.code());
        assertEquals("kestrel logits: --device must be auto, cpu or cuda, got 'gpu'", bad.err().strip());
        Run auto = run(concat(base, "--device", "auto"));
        assertEquals(0, auto.code(), auto.err());
        if (!ai.kestrel.kernels.cuda.Cuda.available()) {
            assertTrue(auto.err().strip().startsWith("device: cpu (no CUDA device: "), auto.err());
            Run cuda = run(concat(base, "--device", "cuda"));
            assertEquals(1, cuda.code());
            String err = cuda.err().strip();
            assertEquals(1, err.lines().count(), err);
            assertTrue(err.startsWith("kestrel logits: --device cuda: no CUDA device: "), err);
        } else {
            assertTrue(auto.err().strip().startsWith("device: cuda ("), auto.err());
        }
    }

    private static String[] concat(String[] a, String... b) {
        String[] out = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    @Test
    void errorsAreOneLine() {
        for (String[] args : new String[][] {
            {"generate", "--model", "/no/such/model", "--prompt", "x"},
            {"logits", "--model", fixture("falcon-h1-g1"), "--tokens", "1,9999"},
            {"logits", "--model", fixture("falcon-h1-g1"), "--tokens", "1,abc"},
        }) {
            Run r = run(args);
            assertEquals(1, r.code(), String.join(" ", args));
            String err = r.err().strip();
            assertEquals(1, err.lines().count(), "one line: " + err);
            assertTrue(err.startsWith("kestrel " + args[0] + ": "), err);
        }
    }

    /** A minimal chat template (the fixtures have none) written into {@code dir}. */
    private static Path chatTemplate(Path dir) throws java.io.IOException {
        Path tmpl = dir.resolve("t.jinja");
        java.nio.file.Files.writeString(tmpl, "{% for m in messages %}<|{{ m.role }}|>{{ m.content }}\n{% endfor %}"
                + "{% if add_generation_prompt %}<|assistant|>{% endif %}");
        return tmpl;
    }

    @Test
    void quantizeTrainAndGenerateWithTheAdapter(@org.junit.jupiter.api.io.TempDir Path dir) throws java.io.IOException {
        Path q4 = dir.resolve("q4");
        Run q = run("quantize", "--model", fixture("falcon-h1-g1"), "--out", q4.toString());
        assertEquals(0, q.code(), q.err());
        assertTrue(q.out().contains("quantized"), q.out());
        Path tmpl = chatTemplate(dir);
        Path data = dir.resolve("d.jsonl");
        java.nio.file.Files.writeString(data, "{\"query\": \"1+1?\", \"response\": \"2\"}\n{\"question\": \"2+2?\", \"answer\": \"#### 4\"}\n");
        Path out = dir.resolve("run");
        Run t = run("train", "--model", q4.toString(), "--data", data.toString(), "--chat-template", tmpl.toString(), "--out", out.toString(),
                "--steps", "3", "--batch", "1", "--grad-accum", "2", "--lora-r", "2", "--save-every", "2");
        assertEquals(0, t.code(), t.err());
        assertTrue(t.out().contains("step 3/3"), t.out());
        assertTrue(java.nio.file.Files.exists(out.resolve("adapter_config.json")));
        assertTrue(java.nio.file.Files.exists(out.resolve("adapter_model.safetensors")));
        assertTrue(java.nio.file.Files.isDirectory(out.resolve("checkpoint-2")));
        assertEquals(3, java.nio.file.Files.readAllLines(out.resolve("metrics.jsonl")).size());
        Run g = run("generate", "--model", q4.toString(), "--adapter", out.toString(), "--tokens", "5,6", "--max-new-tokens", "3",
                "--greedy", "--json", "--ignore-eos");
        assertEquals(0, g.code(), g.err());
        assertEquals(3, JsonParser.parseString(g.out()).getAsJsonObject().getAsJsonArray("ids").size());
        Run bad = run("train", "--model", fixture("falcon-h1-g1"), "--data", data.toString(), "--out", dir.resolve("x").toString(),
                "--targets", "q_proj,conv1d");
        assertEquals(1, bad.code());
        assertTrue(bad.err().contains("conv1d") && bad.err().lines().count() == 1, bad.err());
        Run mamba = run("train", "--model", fixture("falcon-mamba"), "--data", data.toString(), "--out", dir.resolve("y").toString());
        assertEquals(1, mamba.code());
        assertTrue(mamba.err().contains("Falcon-H1") && mamba.err().contains("is Falcon-Mamba") && mamba.err().lines().count() == 1, mamba.err());
    }

    @Test
    void keepProductsTrainsTheSameAdapter(@org.junit.jupiter.api.io.TempDir Path dir) throws java.io.IOException {
        Path tmpl = chatTemplate(dir);
        Path data = dir.resolve("d.jsonl");
        java.nio.file.Files.writeString(data, "{\"query\": \"1+1?\", \"response\": \"2\"}\n{\"query\": \"2+3?\", \"response\": \"5\"}\n");
        byte[][] adapters = new byte[2][];
        long[] peaks = new long[2];
        for (int k = 0; k < 2; k++) {
            Path out = dir.resolve("run" + k);
            java.util.List<String> args = new java.util.ArrayList<>(java.util.List.of("train", "--model", fixture("falcon-h1-g1"), "--data",
                    data.toString(), "--chat-template", tmpl.toString(), "--out", out.toString(), "--steps", "3", "--batch", "2",
                    "--grad-accum", "1", "--lora-r", "2"));
            if (k == 1) {
                args.add("--keep-products");
            }
            Run t = run(args.toArray(new String[0]));
            assertEquals(0, t.code(), t.err());
            assertTrue(t.out().contains("step 3/3"), t.out());
            adapters[k] = java.nio.file.Files.readAllBytes(out.resolve("adapter_model.safetensors"));
            java.util.List<String> lines = java.nio.file.Files.readAllLines(out.resolve("metrics.jsonl"));
            peaks[k] = JsonParser.parseString(lines.get(lines.size() - 1)).getAsJsonObject().get("peak_bytes").getAsLong();
            assertTrue(peaks[k] > 0 && t.out().contains(" mem "), t.out());
        }
        org.junit.jupiter.api.Assertions.assertArrayEquals(adapters[0], adapters[1], "--keep-products changed the trained adapter");
        assertTrue(peaks[1] > peaks[0], "--keep-products held no more memory at the step's height: " + peaks[1] + " against " + peaks[0]);
    }

    @Test
    void demoTeachesTheTinyModelItsTask(@org.junit.jupiter.api.io.TempDir Path dir) {
        Run r = run("demo", "--out", dir.resolve("demo").toString());
        assertEquals(0, r.code(), r.err());
        java.util.regex.Matcher before = java.util.regex.Pattern.compile("before training: (\\d+)%").matcher(r.out());
        java.util.regex.Matcher after = java.util.regex.Pattern.compile("after training: +(\\d+)%").matcher(r.out());
        assertTrue(before.find() && after.find(), r.out());
        assertTrue(Integer.parseInt(before.group(1)) <= 10, "the random model cannot do it: " + before.group(1));
        assertTrue(Integer.parseInt(after.group(1)) >= 90, "QLoRA teaches it: " + after.group(1) + "\n" + r.out());
        assertTrue(java.nio.file.Files.exists(dir.resolve("demo/adapter/adapter_model.safetensors")));
        assertTrue(java.nio.file.Files.exists(dir.resolve("demo/adapter/loss.png")));
        // the held-out and training words, in GSM8K form, for ./kestrel eval
        try {
            java.util.List<ai.kestrel.train.eval.MathEval.Problem> held = ai.kestrel.train.eval.MathEval.read(dir.resolve("demo/heldout.jsonl"), 0);
            assertEquals(100, held.size());
            assertTrue(held.get(0).question().endsWith(">") && held.get(0).gold().matches("[a-z]{6}"), held.get(0).toString());
            assertEquals(512, ai.kestrel.train.eval.MathEval.read(dir.resolve("demo/train.jsonl"), 0).size());
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        // running it again replaces the previous demo's files
        Run again = run("demo", "--out", dir.resolve("demo").toString(), "--steps", "2");
        assertEquals(0, again.code(), again.err());
        assertTrue(again.err().contains("replacing the previous demo's files"), again.err());
        assertTrue(again.out().contains("in 2 steps"), again.out());
        // a folder holding anything else is refused, and keeps what it holds
        try {
            assertEquals(2, java.nio.file.Files.readAllLines(dir.resolve("demo/adapter/metrics.jsonl")).size(),
                    "the second run's metrics alone, not appended to the first run's");
            java.nio.file.Files.writeString(dir.resolve("demo/notes.txt"), "mine");
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        Run refused = run("demo", "--out", dir.resolve("demo").toString(), "--steps", "2");
        assertEquals(1, refused.code());
        assertTrue(refused.err().contains("holds notes.txt, which the demo does not write"), refused.err());
        assertTrue(java.nio.file.Files.exists(dir.resolve("demo/notes.txt")));
        assertTrue(java.nio.file.Files.exists(dir.resolve("demo/adapter/adapter_model.safetensors")));
    }

    @Test
    void theAdditionTaskHoldsOutProblemsItNeverTrainsOn() {
        var sets = DemoCommand.problems(DemoCommand.Task.add, new java.util.SplittableRandom(1));
        java.util.Set<String> train = new java.util.HashSet<>();
        for (String[] p : sets.get(0)) {
            train.add(p[0]);
        }
        assertEquals(512, train.size(), "distinct training problems");
        assertEquals(100, sets.get(1).size());
        for (java.util.List<String[]> set : sets) {
            for (String[] p : set) {
                java.util.regex.Matcher m = java.util.regex.Pattern.compile("(\\d+)\\+(\\d+)=").matcher(p[0]);
                assertTrue(m.matches(), p[0]);
                int a = Integer.parseInt(m.group(1));
                int b = Integer.parseInt(m.group(2));
                assertTrue(a <= DemoCommand.MAX_OPERAND && b <= DemoCommand.MAX_OPERAND);
                assertEquals((a + b) + "\n", p[1]);
            }
        }
        for (String[] p : sets.get(1)) {
            assertTrue(!train.contains(p[0]), "held-out " + p[0] + " is not trained on");
        }
    }
}
