package ai.kestrel.train.eval;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The evaluation's reading of the real data sets: every gold answer found, and found right. */
class MathEvalDataTest {
    private static Path data(String name) {
        return Path.of(System.getProperty("kestrel.testdata"), "data", name);
    }

    @Test
    void everyGsm8kGoldIsTheNumberAfterTheHashes() throws IOException {
        List<MathEval.Problem> ps = MathEval.read(data("gsm8k_test.jsonl"), 0);
        List<String> lines = Files.readAllLines(data("gsm8k_test.jsonl"));
        assertEquals(1319, ps.size());
        for (MathEval.Problem p : ps) {
            String solution = JsonParser.parseString(lines.get(p.index())).getAsJsonObject().get("answer").getAsString();
            String raw = solution.substring(solution.lastIndexOf("####") + 4).strip().replace(",", "");
            assertNotNull(Answers.value(p.gold()), p.index() + ": " + p.gold());
            assertTrue(Answers.equivalent(p.gold(), raw), p.index() + ": " + p.gold() + " vs " + raw);
        }
        assertEquals(5, MathEval.read(data("gsm8k_test.jsonl"), 5).size());
    }

    @Test
    void everyMetaMathQaGoldIsFound() throws IOException {
        List<MathEval.Problem> ps = MathEval.read(data("metamathqa_sample.jsonl"), 0);
        assertEquals(3, ps.size());
        assertEquals("\\sqrt{5}", ps.get(0).gold());
        assertEquals("752", ps.get(1).gold());
        List<String> lines = Files.readAllLines(data("metamathqa_sample.jsonl"));
        for (MathEval.Problem p : ps) {
            String response = JsonParser.parseString(lines.get(p.index())).getAsJsonObject().get("response").getAsString();
            String raw = response.substring(response.lastIndexOf("The answer is:") + 14).strip();
            assertTrue(Answers.equivalent(p.gold(), Answers.fromMarker(raw)), p.index() + ": " + p.gold() + " vs " + raw);
        }
    }

    @Test
    void recordsWithoutAGoldAnswerAreNamed(@TempDir Path dir) throws IOException {
        Path f = dir.resolve("bad.jsonl");
        Files.writeString(f, "{\"question\": \"q\", \"answer\": \"#### 4\"}\n{\"question\": \"q2\", \"answer\": \"no idea\"}\n");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> MathEval.read(f, 0));
        assertTrue(e.getMessage().contains("bad.jsonl:2"), e.getMessage());
    }
}
