package ai.kestrel.train.cli;

import ai.kestrel.engine.io.AtomicFiles;
import ai.kestrel.model.LoadedModel;
import ai.kestrel.model.generate.Generator;
import ai.kestrel.model.tokenizer.ChatTemplate;
import ai.kestrel.model.tokenizer.Tokenizer;
import ai.kestrel.train.eval.DeepConf;
import ai.kestrel.train.eval.MathEval;
import java.io.BufferedWriter;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code ./kestrel eval}: math-reasoning accuracy on GSM8K- or MetaMathQA-format data, greedy, by majority over
 * samples, or with DeepConf (offline or online) next to plain majority voting at the same budget. Writes
 * {@code records.jsonl} (one line per problem), {@code traces.jsonl} (one line per generated trace, with top-k
 * log-probabilities when they were recorded) and {@code report.json} into {@code --out}, each atomically.
 */
@Command(name = "eval", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Evaluate math reasoning: accuracy, loop rate and tokens; greedy, majority of samples, or DeepConf.")
final class EvalCommand implements Callable<Integer> {
    @Mixin
    ModelOptions model;

    @Option(names = "--data", required = true, paramLabel = "FILE", description = "GSM8K (question/answer) or MetaMathQA (query/response) JSONL.")
    Path data;

    @Option(names = "--limit", defaultValue = "0", description = "Only the first N problems (default: all).")
    int limit;

    @Option(names = "--greedy", description = "One greedy answer per problem (the default without --samples or --deepconf).")
    boolean greedy;

    @Option(names = "--samples", defaultValue = "0", paramLabel = "K", description = "K sampled answers per problem and their majority vote.")
    int samples;

    @Option(names = "--deepconf", paramLabel = "MODE", description = "online or offline: DeepConf next to majority voting at the same --budget.")
    String deepconf;

    @Option(names = "--budget", defaultValue = "16", description = "DeepConf: traces per problem (default ${DEFAULT-VALUE}; the paper uses 512).")
    int budget;

    @Option(names = "--eta", defaultValue = "90", description = "DeepConf: keep the top eta% by confidence, 10 (aggressive) or 90 (default ${DEFAULT-VALUE}).")
    double eta;

    @Option(names = "--window", defaultValue = "2048", description = "DeepConf: group window in tokens (default ${DEFAULT-VALUE}).")
    int window;

    @Option(names = "--measure", defaultValue = "bottom10", description = "DeepConf offline: mean, lowest_group, bottom10 or tail (default ${DEFAULT-VALUE}).")
    String measure;

    @Option(names = "--warmup", defaultValue = "16", description = "DeepConf online: warm-up traces (default ${DEFAULT-VALUE}, at most the budget).")
    int warmup;

    @Option(names = "--consensus", defaultValue = "0.95", description = "DeepConf online: stop when the leading answer holds this share (default ${DEFAULT-VALUE}).")
    double consensus;

    @Option(names = "--no-baseline", description = "DeepConf online: skip the majority vote over a full budget of traces.")
    boolean noBaseline;

    @Option(names = "--top-logprobs", defaultValue = "20", description = "Log-probabilities kept per token for confidences (default ${DEFAULT-VALUE}).")
    int topLogprobs;

    @Option(names = "--temperature", defaultValue = "0.8", description = "Sampling temperature (default ${DEFAULT-VALUE}).")
    double temperature;

    @Option(names = "--top-k", defaultValue = "0", description = "Sample among the k most likely tokens; 0 for all (default ${DEFAULT-VALUE}).")
    int topK;

    @Option(names = "--top-p", defaultValue = "0.95", description = "Nucleus mass (default ${DEFAULT-VALUE}).")
    double topP;

    @Option(names = "--seed", defaultValue = "0", description = "Sampling seed (default ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--max-new-tokens", defaultValue = "512", description = "Token limit per answer (default ${DEFAULT-VALUE}).")
    int maxNewTokens;

    @Option(names = "--batch", defaultValue = "8", description = "Sequences decoded side by side (default ${DEFAULT-VALUE}).")
    int batch;

    @Option(names = "--raw", description = "The question as the prompt, without the chat template.")
    boolean raw;

    @Option(names = "--instruction", description = "Text appended to every question (e.g. 'Put the final answer after ####.').")
    String instruction;

    @Option(names = "--system", description = "A system message for the chat template.")
    String system;

    @Option(names = "--stop", description = "Stop an answer when this text appears (repeatable).")
    List<String> stop = new ArrayList<>();

    @Option(names = "--on-loop", defaultValue = "STOP", description = "When an answer repeats itself: STOP, REPORT or IGNORE (default ${DEFAULT-VALUE}).")
    Generator.LoopPolicy onLoop;

    @Option(names = "--out", defaultValue = "kestrel-eval", paramLabel = "DIR", description = "Where records.jsonl, traces.jsonl and report.json go (default ${DEFAULT-VALUE}).")
    Path out;

    @Option(names = "--quiet", description = "No line per problem.")
    boolean quiet;

    MathEval.Mode mode() {
        if (deepconf != null) {
            if (greedy || samples > 0) {
                throw new IllegalArgumentException("--deepconf takes its traces from --budget; drop --greedy/--samples");
            }
            return switch (deepconf.toLowerCase(Locale.ROOT)) {
                case "online" -> MathEval.Mode.DEEPCONF_ONLINE;
                case "offline" -> MathEval.Mode.DEEPCONF_OFFLINE;
                default -> throw new IllegalArgumentException("--deepconf: '" + deepconf + "' is neither online nor offline");
            };
        }
        if (greedy && samples > 0) {
            throw new IllegalArgumentException("--greedy and --samples exclude each other");
        }
        return samples > 0 ? MathEval.Mode.SAMPLES : MathEval.Mode.GREEDY;
    }

    @Override
    public Integer call() throws Exception {
        MathEval.Mode mode = mode();
        List<MathEval.Problem> problems = MathEval.read(data, limit);
        try (LoadedModel m = model.load()) {
            Tokenizer tok = m.requireTokenizer();
            ChatTemplate template = raw ? null : m.chatTemplate();
            MathEval.Prompter prompter = q -> {
                String text = instruction == null ? q : q + "\n\n" + instruction;
                if (template == null) {
                    return GenerateCommand.withBos(m, tok.encode(text));
                }
                List<ChatTemplate.Message> msgs = new ArrayList<>();
                if (system != null) {
                    msgs.add(new ChatTemplate.Message("system", system));
                }
                msgs.add(new ChatTemplate.Message("user", text));
                return tok.encode(template.render(msgs, true));
            };
            int k = mode == MathEval.Mode.SAMPLES ? samples : mode == MathEval.Mode.GREEDY ? 1 : budget;
            MathEval.Settings s = new MathEval.Settings(mode, maxNewTokens, batch, k, temperature, topK, topP, seed, eta, window,
                    mode == MathEval.Mode.GREEDY ? 0 : topLogprobs, DeepConf.Measure.parse(measure), warmup, consensus, !noBaseline,
                    new HashSet<>(m.eosIds()), stop, onLoop);
            Files.createDirectories(out);
            Path tracesTmp = Files.createTempFile(out, ".traces", ".tmp");
            Path recordsTmp = Files.createTempFile(out, ".records", ".tmp");
            List<MathEval.Outcome> outcomes;
            long t0 = System.nanoTime();
            long[] generated = {0};
            int[] traceCount = {0};
            int[] loopTraces = {0};
            System.out.printf(Locale.ROOT, "eval: %d problems from %s, %s, %s prompts%n", problems.size(), data, describe(mode, s),
                    template == null ? "raw" : "chat-template");
            try (BufferedWriter tw = Files.newBufferedWriter(tracesTmp, StandardCharsets.UTF_8);
                 BufferedWriter rw = Files.newBufferedWriter(recordsTmp, StandardCharsets.UTF_8)) {
                outcomes = MathEval.run(m.model(), tok, prompter, problems, s, new MathEval.Listener() {
                    @Override
                    public void trace(MathEval.Trace t) {
                        generated[0] += t.tokens();
                        traceCount[0]++;
                        loopTraces[0] += t.loop() ? 1 : 0;
                        Map<String, Object> o = new LinkedHashMap<>();
                        o.put("problem", t.problem());
                        o.put("group", t.group());
                        o.put("index", t.index());
                        o.put("answer", t.answer());
                        o.put("tokens", t.tokens());
                        o.put("stop", t.reason().name().toLowerCase(Locale.ROOT));
                        o.put("stopped_early", t.stoppedEarly());
                        o.put("loop", t.loop());
                        o.put("text", t.text());
                        if (!t.logprobs().isEmpty()) {
                            o.put("logprobs", t.logprobs());
                        }
                        write(tw, o);
                    }

                    @Override
                    public void problem(MathEval.Outcome o) {
                        write(rw, record(o));
                        if (!quiet) {
                            System.out.printf(Locale.ROOT, "  #%-4d gold %-10s got %-10s %s  %d tokens%s%n", o.problem().index(), clip(o.problem().gold()),
                                    clip(o.primary().answer()), o.primary().correct() ? "right" : "WRONG", o.primary().tokens(),
                                    o.loops() > 0 ? "  (" + o.loops() + " loop" + (o.loops() > 1 ? "s" : "") + ")" : "");
                        }
                    }
                });
            } catch (RuntimeException | IOException e) {
                Files.deleteIfExists(tracesTmp);
                Files.deleteIfExists(recordsTmp);
                throw e;
            }
            double seconds = (System.nanoTime() - t0) / 1e9;
            Files.move(tracesTmp, out.resolve("traces.jsonl"), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            Files.move(recordsTmp, out.resolve("records.jsonl"), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            Map<String, Object> report = report(m, mode, s, problems.size(), outcomes, generated[0], traceCount[0], loopTraces[0], seconds);
            byte[] json = Json.NULLS.newBuilder().setPrettyPrinting().create().toJson(report).getBytes(StandardCharsets.UTF_8);
            AtomicFiles.write(out.resolve("report.json"), ch -> AtomicFiles.writeFully(ch, ByteBuffer.wrap(json)));
            printTable(mode, s, outcomes, generated[0], traceCount[0], loopTraces[0], seconds);
            System.out.println("written: " + out.resolve("report.json") + ", " + out.resolve("records.jsonl") + ", " + out.resolve("traces.jsonl"));
        }
        return 0;
    }

    private static void write(BufferedWriter w, Map<String, Object> o) {
        try {
            w.write(Json.NULLS.toJson(o));
            w.newLine();
            w.flush();
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    private static String clip(String s) {
        if (s == null) {
            return "-";
        }
        return s.length() <= 10 ? s : s.substring(0, 9) + "~";
    }

    static String describe(MathEval.Mode mode, MathEval.Settings s) {
        return switch (mode) {
            case GREEDY -> "greedy";
            case SAMPLES -> "majority of " + s.samples() + " samples at temperature " + s.temperature();
            case DEEPCONF_OFFLINE -> String.format(Locale.ROOT, "DeepConf offline (budget %d, eta %s, window %d, %s) vs majority", s.samples(),
                    fmt(s.eta()), s.window(), s.measure().key());
            case DEEPCONF_ONLINE -> String.format(Locale.ROOT, "DeepConf online (budget %d, warm-up %d, eta %s, window %d, consensus %s)%s",
                    s.samples(), Math.min(s.warmup(), s.samples()), fmt(s.eta()), s.window(), fmt(s.consensus()),
                    s.baseline() ? " vs majority of the full budget" : "");
        };
    }

    private static String fmt(double v) {
        return v == Math.rint(v) ? String.valueOf((long) v) : String.valueOf(v);
    }

    private static Map<String, Object> record(MathEval.Outcome o) {
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("index", o.problem().index());
        r.put("question", o.problem().question());
        r.put("gold", o.problem().gold());
        r.put("answer", o.primary().answer());
        r.put("correct", o.primary().correct());
        r.put("output", o.output());
        r.put("tokens", o.primary().tokens());
        r.put("loop", o.loops() > 0);
        r.put("traces", o.traces());
        if (o.primary().vote() != null) {
            r.put("votes", o.primary().vote().votes());
            r.put("kept", o.primary().vote().kept());
        }
        if (o.stoppedEarly() > 0) {
            r.put("stopped_early", o.stoppedEarly());
        }
        if (o.majority() != null) {
            r.put("majority_answer", o.majority().answer());
            r.put("majority_correct", o.majority().correct());
            r.put("majority_tokens", o.majority().tokens());
        }
        return r;
    }

    private record Row(String method, double accuracy, long tokens, double tokensPerProblem, double traces) {
    }

    private static List<Row> rows(MathEval.Mode mode, MathEval.Settings s, List<MathEval.Outcome> os) {
        int n = os.size();
        List<Row> rows = new ArrayList<>();
        String primary = switch (mode) {
            case GREEDY -> "greedy";
            case SAMPLES -> "majority@" + s.samples();
            case DEEPCONF_OFFLINE -> "deepconf-offline@" + s.samples();
            case DEEPCONF_ONLINE -> "deepconf-online@" + s.samples();
        };
        if (os.stream().anyMatch(o -> o.majority() != null)) {
            long tok = os.stream().mapToLong(o -> o.majority().tokens()).sum();
            rows.add(new Row("majority@" + s.samples(), frac(os.stream().filter(o -> o.majority().correct()).count(), n), tok, (double) tok / n,
                    os.stream().mapToInt(o -> o.majority().traces()).average().orElse(0)));
        }
        long tok = os.stream().mapToLong(o -> o.primary().tokens()).sum();
        rows.add(new Row(primary, frac(os.stream().filter(o -> o.primary().correct()).count(), n), tok, (double) tok / n,
                os.stream().mapToInt(MathEval.Outcome::traces).average().orElse(0)));
        return rows;
    }

    private static double frac(long a, int n) {
        return n == 0 ? 0 : (double) a / n;
    }

    private static Map<String, Object> report(LoadedModel m, MathEval.Mode mode, MathEval.Settings s, int problems, List<MathEval.Outcome> os,
                                              long generated, int traces, int loops, double seconds) {
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("model", m.path().toString());
        r.put("mode", mode.name().toLowerCase(Locale.ROOT));
        r.put("setting", describe(mode, s));
        r.put("problems", problems);
        List<Map<String, Object>> methods = new ArrayList<>();
        for (Row row : rows(mode, s, os)) {
            Map<String, Object> o = new LinkedHashMap<>();
            o.put("method", row.method());
            o.put("accuracy", row.accuracy());
            o.put("tokens", row.tokens());
            o.put("tokens_per_problem", row.tokensPerProblem());
            o.put("traces_per_problem", row.traces());
            methods.add(o);
        }
        r.put("methods", methods);
        r.put("accuracy", methods.get(methods.size() - 1).get("accuracy"));
        r.put("traces", traces);
        r.put("loop_rate", traces == 0 ? 0 : (double) loops / traces);
        r.put("mean_tokens_per_answer", traces == 0 ? 0 : (double) generated / traces);
        r.put("tokens_generated", generated);
        r.put("seconds", seconds);
        r.put("tokens_per_second", seconds <= 0 ? 0 : generated / seconds);
        if (mode == MathEval.Mode.DEEPCONF_ONLINE) {
            r.put("stopped_early", os.stream().mapToInt(MathEval.Outcome::stoppedEarly).sum());
        }
        Map<String, Object> settings = new LinkedHashMap<>();
        settings.put("max_new_tokens", s.maxNewTokens());
        settings.put("batch", s.batch());
        settings.put("temperature", mode == MathEval.Mode.GREEDY ? 0 : s.temperature());
        settings.put("top_k", s.topK());
        settings.put("top_p", s.topP());
        settings.put("seed", s.seed());
        if (mode == MathEval.Mode.DEEPCONF_OFFLINE || mode == MathEval.Mode.DEEPCONF_ONLINE) {
            settings.put("budget", s.samples());
            settings.put("eta", s.eta());
            settings.put("window", s.window());
            settings.put("top_logprobs", s.topLogprobs());
            settings.put("measure", mode == MathEval.Mode.DEEPCONF_ONLINE ? "lowest_group" : s.measure().key());
            if (mode == MathEval.Mode.DEEPCONF_ONLINE) {
                settings.put("warmup", Math.min(s.warmup(), s.samples()));
                settings.put("consensus", s.consensus());
            }
        }
        r.put("settings", settings);
        return r;
    }

    private static void printTable(MathEval.Mode mode, MathEval.Settings s, List<MathEval.Outcome> os, long generated, int traces, int loops,
                                   double seconds) {
        System.out.println();
        System.out.printf(Locale.ROOT, "%-24s %9s %10s %15s %9s%n", "method", "accuracy", "tokens", "tokens/problem", "traces");
        for (Row r : rows(mode, s, os)) {
            System.out.printf(Locale.ROOT, "%-24s %8.1f%% %10d %15.1f %9.1f%n", r.method(), 100 * r.accuracy(), r.tokens(), r.tokensPerProblem(), r.traces());
        }
        System.out.printf(Locale.ROOT, "%d problems, %d traces, loop rate %.1f%%, %.1f tokens per answer, %d tokens in %.1f s (%.1f tok/s)%n", os.size(),
                traces, traces == 0 ? 0 : 100.0 * loops / traces, traces == 0 ? 0 : (double) generated / traces, generated, seconds,
                seconds <= 0 ? 0 : generated / seconds);
    }
}
