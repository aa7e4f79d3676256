package ai.kestrel.train.cli;

import ai.kestrel.train.eval.Answers;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;

/** {@code ./kestrel extract-answer}: JSONL {@code {"text": ...}} on stdin, one {@code {"answer": ...}} line per input. */
@Command(name = "extract-answer", mixinStandardHelpOptions = true,
        description = "Read JSONL {\"text\": ...} from stdin and write one {\"answer\": ...} line per input (null when there is none), "
                + "with the extraction the evaluation uses: #### n, The answer is: x, Answer: x, \\boxed{...}, else the last number.")
final class ExtractAnswerCommand implements Callable<Integer> {
    InputStream in = System.in;

    @Override
    public Integer call() throws IOException {
        var decoder = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT);
        PrintStream out = new PrintStream(System.out, false, StandardCharsets.UTF_8);
        try (BufferedReader r = new BufferedReader(new InputStreamReader(in, decoder))) {
            String line;
            int n = 0;
            while (true) {
                try {
                    line = r.readLine();
                } catch (java.nio.charset.CharacterCodingException e) {
                    throw new IllegalArgumentException("stdin line " + (n + 1) + ": not valid UTF-8");
                }
                if (line == null) {
                    break;
                }
                n++;
                if (line.isBlank()) {
                    continue;
                }
                JsonElement e;
                try {
                    e = JsonParser.parseString(line);
                } catch (RuntimeException ex) {
                    throw new IllegalArgumentException("stdin line " + n + ": not JSON (" + ex.getMessage() + ")");
                }
                if (!e.isJsonObject() || !e.getAsJsonObject().has("text") || !e.getAsJsonObject().get("text").isJsonPrimitive()) {
                    throw new IllegalArgumentException("stdin line " + n + ": expected an object with a string field \"text\"");
                }
                JsonObject o = new JsonObject();
                String a = Answers.extract(e.getAsJsonObject().get("text").getAsString());
                o.add("answer", a == null ? com.google.gson.JsonNull.INSTANCE : new com.google.gson.JsonPrimitive(a));
                out.println(Json.NULLS.toJson(o));
                out.flush();
            }
        }
        return 0;
    }
}
