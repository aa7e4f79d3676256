package ai.kestrel.train.cli;

import ai.kestrel.train.eval.Answers;
import ai.kestrel.train.eval.DeepConf;
import ai.kestrel.train.sft.SftData;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code ./kestrel deepconf}: DeepConf's offline vote over saved traces. A trace is a JSONL line
 * {@code {"answer": ..., "logprobs": [[top-k log-probs of token 1, highest first], ...]}}; without {@code answer}
 * the answer is extracted from {@code text}. Traces with a {@code problem} (or {@code group}) field are voted per
 * problem (and group), one output line each.
 */
@Command(name = "deepconf", mixinStandardHelpOptions = true,
        description = "Re-score saved traces offline with DeepConf: keep the traces whose confidence reaches the (100 - eta)th "
                + "percentile, vote weighted by confidence. Prints {\"answer\": ..., \"votes\": {...}, \"kept\": n} (one line per problem and group).")
final class DeepConfCommand implements Callable<Integer> {
    @Option(names = "--traces", required = true, paramLabel = "FILE", description = "JSONL traces (as ./kestrel eval writes them).")
    Path traces;

    @Option(names = "--window", defaultValue = "2048", description = "Group window in tokens (default ${DEFAULT-VALUE}).")
    int window;

    @Option(names = "--measure", defaultValue = "bottom10", description = "mean, lowest_group, bottom10 or tail (default ${DEFAULT-VALUE}).")
    String measure;

    @Option(names = "--eta", defaultValue = "90", description = "Keep the top eta% of traces by confidence: 10 or 90 in the paper (default ${DEFAULT-VALUE}).")
    double eta;

    @Option(names = "--group", description = "Only traces of this group (eval writes greedy, sample, offline, online, baseline).")
    String group;

    private record Trace(String answer, double confidence) {
    }

    private record Key(String problem, String group) {
    }

    @Override
    public Integer call() throws IOException {
        DeepConf.Measure m = DeepConf.Measure.parse(measure);
        if (window < 1) {
            throw new IllegalArgumentException("--window must be >= 1");
        }
        Map<Key, List<Trace>> byProblem = new LinkedHashMap<>();
        for (SftData.Record rec : SftData.records(traces)) {
            String where = rec.where();
            if (!rec.json().isJsonObject()) {
                throw new IllegalArgumentException(where + ": a trace must be a JSON object");
            }
            JsonObject o = rec.json().getAsJsonObject();
            if (group != null && (!o.has("group") || !group.equals(o.get("group").getAsString()))) {
                continue;
            }
            String answer;
            if (o.has("answer")) {
                answer = o.get("answer").isJsonNull() ? null : o.get("answer").getAsString();
            } else if (o.has("text") && o.get("text").isJsonPrimitive()) {
                answer = Answers.extract(o.get("text").getAsString());
            } else {
                throw new IllegalArgumentException(where + ": a trace needs \"answer\" (or \"text\" to extract it from)");
            }
            if (!o.has("logprobs") || !o.get("logprobs").isJsonArray()) {
                throw new IllegalArgumentException(where + ": a trace needs \"logprobs\": [[top-k log-probs per token], ...]");
            }
            JsonArray lp = o.getAsJsonArray("logprobs");
            double[] conf = new double[lp.size()];
            for (int t = 0; t < conf.length; t++) {
                JsonElement step = lp.get(t);
                if (!step.isJsonArray() || step.getAsJsonArray().isEmpty()) {
                    throw new IllegalArgumentException(where + ": logprobs[" + t + "] must be a non-empty array of numbers");
                }
                JsonArray a = step.getAsJsonArray();
                float[] v = new float[a.size()];
                for (int j = 0; j < v.length; j++) {
                    try {
                        v[j] = a.get(j).getAsFloat();
                    } catch (RuntimeException ex) {
                        throw new IllegalArgumentException(where + ": logprobs[" + t + "][" + j + "] is not a number");
                    }
                    if (!(v[j] <= 0) && !Float.isNaN(v[j])) {
                        throw new IllegalArgumentException(where + ": logprobs[" + t + "][" + j + "] = " + v[j] + " is not a log-probability (<= 0)");
                    }
                }
                conf[t] = DeepConf.tokenConfidence(v);
            }
            // traces of one problem vote together; so do those of one group (eval's online and baseline runs apart)
            String problem = o.has("problem") ? o.get("problem").getAsString() : null;
            String g = o.has("group") ? o.get("group").getAsString() : null;
            byProblem.computeIfAbsent(new Key(problem, g), k -> new ArrayList<>()).add(new Trace(answer, DeepConf.measure(conf, m, window)));
        }
        if (byProblem.isEmpty()) {
            throw new IllegalArgumentException(traces + ": no traces" + (group == null ? "" : " of group " + group));
        }
        for (var e : byProblem.entrySet()) {
            List<String> answers = new ArrayList<>();
            double[] c = new double[e.getValue().size()];
            for (int i = 0; i < c.length; i++) {
                answers.add(e.getValue().get(i).answer());
                c[i] = e.getValue().get(i).confidence();
            }
            DeepConf.Vote v = DeepConf.filtered(answers, c, eta);
            Map<String, Object> out = new LinkedHashMap<>();
            if (e.getKey().problem() != null) {
                out.put("problem", e.getKey().problem());
            }
            if (e.getKey().group() != null) {
                out.put("group", e.getKey().group());
            }
            out.put("answer", v.answer());
            out.put("votes", v.votes());
            out.put("kept", v.kept());
            out.put("traces", c.length);
            out.put("threshold", Double.isNaN(v.threshold()) ? null : v.threshold());
            out.put("measure", m.key());
            System.out.println(Json.NULLS.toJson(out));
        }
        return 0;
    }
}
