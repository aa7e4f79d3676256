package ai.kestrel.train.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code eval}, {@code extract-answer} and {@code deepconf} through the command line. */
class EvalCliTest {
    private static CliTest.Run withStdin(byte[] in, String... args) {
        InputStream old = System.in;
        try {
            System.setIn(new ByteArrayInputStream(in));
            return CliTest.run(args);
        } finally {
            System.setIn(old);
        }
    }

    @Test
    void extractAnswerWritesOneLinePerInput() {
        String in = "{\"text\": \"so 3 + 4 = 7.\\nThe answer is: 7\"}\n"
                + "{\"text\": \"Three\\nThree\\nThree\"}\n"
                + "\n"
                + "{\"text\": \"$\\\\boxed{\\\\dfrac{3}{4}}$\"}\n";
        CliTest.Run r = withStdin(in.getBytes(StandardCharsets.UTF_8), "extract-answer");
        assertEquals(0, r.code(), r.err());
        assertEquals(List.of("{\"answer\":\"7\"}", "{\"answer\":null}", "{\"answer\":\"3/4\"}"), r.out().strip().lines().toList());

        CliTest.Run bad = withStdin("{\"text\": \"1\"}\n{\"txt\": 2}\n".getBytes(StandardCharsets.UTF_8), "extract-answer");
        assertEquals(1, bad.code());
        assertTrue(bad.err().contains("line 2"), bad.err());
        CliTest.Run utf = withStdin(new byte[] {'{', '"', 't', 'e', 'x', 't', '"', ':', '"', (byte) 0xC3, '"', '}', '\n'}, "extract-answer");
        assertEquals(1, utf.code());
        assertTrue(utf.err().contains("UTF-8"), utf.err());
    }

    @Test
    void deepconfRescoresSavedTraces(@TempDir Path dir) throws IOException {
        // token confidences: trace a = 1.0 (twice), b = 0.1, 0.2, 0.3; eta 50 keeps confidences >= the median 0.3
        Path f = dir.resolve("traces.jsonl");
        Files.writeString(f, String.join("\n",
                "{\"answer\": \"7\", \"logprobs\": [[-0.5, -1.5], [-1.0, -1.0]]}",
                "{\"answer\": \"7\", \"logprobs\": [[-1.0, -1.0]]}",
                "{\"answer\": \"8\", \"logprobs\": [[-0.1, -0.1]]}",
                "{\"answer\": \"8\", \"logprobs\": [[-0.2, -0.2]]}",
                "{\"text\": \"The answer is: 8\", \"logprobs\": [[-0.3, -0.3]]}",
                "{\"answer\": null, \"logprobs\": [[-9, -9]]}", ""));
        CliTest.Run r = CliTest.run("deepconf", "--traces", f.toString(), "--eta", "50", "--measure", "mean");
        assertEquals(0, r.code(), r.err());
        JsonObject o = JsonParser.parseString(r.out()).getAsJsonObject();
        assertEquals("7", o.get("answer").getAsString());
        assertEquals(3, o.get("kept").getAsInt());
        assertEquals(2.0, o.getAsJsonObject("votes").get("7").getAsDouble(), 1e-6);
        assertEquals(0.3, o.getAsJsonObject("votes").get("8").getAsDouble(), 1e-6);
        // eta 100 keeps all five answered traces: 7 still wins 2.0 to 0.6
        o = JsonParser.parseString(CliTest.run("deepconf", "--traces", f.toString(), "--eta", "100").out()).getAsJsonObject();
        assertEquals(5, o.get("kept").getAsInt());

        Files.writeString(f, "{\"answer\": \"7\", \"logprobs\": [[0.5]]}\n");
        CliTest.Run bad = CliTest.run("deepconf", "--traces", f.toString());
        assertEquals(1, bad.code());
        assertTrue(bad.err().contains("traces.jsonl:1") && bad.err().contains("log-probability"), bad.err());
    }

    private static JsonObject report(Path out) throws IOException {
        return JsonParser.parseString(Files.readString(out.resolve("report.json"))).getAsJsonObject();
    }

    @Test
    void evalRunsGreedySamplesAndBothDeepConfModesOnAFixture(@TempDir Path dir) throws IOException {
        String model = CliTest.fixture("falcon-h1-g2");
        String data = Path.of(System.getProperty("kestrel.testdata"), "data", "gsm8k_test.jsonl").toString();

        Path greedy = dir.resolve("greedy");
        CliTest.Run r = CliTest.run("eval", "--model", model, "--data", data, "--limit", "3", "--max-new-tokens", "6", "--out", greedy.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("accuracy"), r.out());
        JsonObject rep = report(greedy);
        assertEquals(3, rep.get("problems").getAsInt());
        assertEquals(3, rep.get("traces").getAsInt());
        List<String> records = Files.readAllLines(greedy.resolve("records.jsonl"));
        assertEquals(3, records.size());
        JsonObject first = JsonParser.parseString(records.get(0)).getAsJsonObject();
        assertEquals("18", first.get("gold").getAsString());
        for (String k : new String[] {"question", "output", "answer", "correct", "tokens", "loop"}) {
            assertTrue(first.has(k), k);
        }

        Path offline = dir.resolve("offline");
        r = CliTest.run("eval", "--model", model, "--data", data, "--limit", "2", "--max-new-tokens", "6", "--deepconf", "offline", "--budget", "4",
                "--eta", "50", "--window", "4", "--temperature", "1.0", "--batch", "3", "--out", offline.toString());
        assertEquals(0, r.code(), r.err());
        rep = report(offline);
        JsonArray methods = rep.getAsJsonArray("methods");
        assertEquals("majority@4", methods.get(0).getAsJsonObject().get("method").getAsString());
        assertEquals("deepconf-offline@4", methods.get(1).getAsJsonObject().get("method").getAsString());
        assertEquals(8, rep.get("traces").getAsInt());
        List<String> traces = Files.readAllLines(offline.resolve("traces.jsonl"));
        assertEquals(8, traces.size());
        JsonObject t = JsonParser.parseString(traces.get(0)).getAsJsonObject();
        JsonArray lp = t.getAsJsonArray("logprobs");
        assertEquals(t.get("tokens").getAsInt(), lp.size());
        assertEquals(20, lp.get(0).getAsJsonArray().size());
        // the saved traces re-score to the votes the eval reported
        CliTest.Run dc = CliTest.run("deepconf", "--traces", offline.resolve("traces.jsonl").toString(), "--eta", "50", "--window", "4");
        assertEquals(0, dc.code(), dc.err());
        List<String> lines = dc.out().strip().lines().toList();
        assertEquals(2, lines.size());
        List<String> recs = Files.readAllLines(offline.resolve("records.jsonl"));
        for (int i = 0; i < 2; i++) {
            JsonObject rec = JsonParser.parseString(recs.get(i)).getAsJsonObject();
            JsonObject re = JsonParser.parseString(lines.get(i)).getAsJsonObject();
            assertEquals(rec.get("kept").getAsInt(), re.get("kept").getAsInt());
            assertEquals(rec.get("answer"), re.get("answer"));
        }

        Path online = dir.resolve("online");
        r = CliTest.run("eval", "--model", model, "--data", data, "--limit", "2", "--max-new-tokens", "12", "--deepconf", "online", "--budget", "6",
                "--warmup", "3", "--eta", "50", "--window", "3", "--temperature", "1.0", "--out", online.toString(), "--quiet");
        assertEquals(0, r.code(), r.err());
        rep = report(online);
        assertTrue(rep.has("stopped_early"));
        assertEquals("majority@6", rep.getAsJsonArray("methods").get(0).getAsJsonObject().get("method").getAsString());
        // the problems ran interleaved in one batch; their records still come in order
        List<String> onlineRecords = Files.readAllLines(online.resolve("records.jsonl"));
        assertEquals(2, onlineRecords.size());
        for (int i = 0; i < 2; i++) {
            JsonObject rec = JsonParser.parseString(onlineRecords.get(i)).getAsJsonObject();
            assertEquals(i, rec.get("index").getAsInt());
            assertTrue(rec.get("traces").getAsInt() >= 3 && rec.get("traces").getAsInt() <= 6, rec.toString());
        }
        // saved online and baseline traces are re-scored apart: one line per (problem, group)
        CliTest.Run split = CliTest.run("deepconf", "--traces", online.resolve("traces.jsonl").toString(), "--window", "3");
        assertEquals(0, split.code(), split.err());
        List<String> parts = split.out().strip().lines().toList();
        assertEquals(4, parts.size(), split.out());
        assertTrue(parts.stream().anyMatch(l -> l.contains("\"group\":\"baseline\"")) && parts.stream().anyMatch(l -> l.contains("\"group\":\"online\"")));
        long online6 = rep.getAsJsonArray("methods").get(1).getAsJsonObject().get("tokens").getAsLong();
        long majority6 = rep.getAsJsonArray("methods").get(0).getAsJsonObject().get("tokens").getAsLong();
        assertTrue(online6 <= majority6, online6 + " vs " + majority6);

        CliTest.Run bad = CliTest.run("eval", "--model", model, "--data", data, "--greedy", "--samples", "3", "--out", dir.resolve("x").toString());
        assertEquals(1, bad.code());
        assertFalse(bad.err().isBlank());
        CliTest.Run missing = CliTest.run("eval", "--model", model, "--data", dir.resolve("no-such.jsonl").toString());
        assertEquals(1, missing.code());
        assertTrue(missing.err().contains("no-such.jsonl: no such file"), missing.err());
    }
}
