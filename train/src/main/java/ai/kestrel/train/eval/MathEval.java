package ai.kestrel.train.eval;

import ai.kestrel.model.LanguageModel;
import ai.kestrel.model.generate.BatchGenerator;
import ai.kestrel.model.generate.Generator;
import ai.kestrel.model.generate.Sampler;
import ai.kestrel.model.tokenizer.ChatTemplate;
import ai.kestrel.model.tokenizer.Tokenizer;
import ai.kestrel.train.sft.SftData;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * Math-reasoning evaluation: problems from GSM8K ({@code question}/{@code answer} with {@code #### n}) or MetaMathQA
 * ({@code query}/{@code response} ending "The answer is: x") files, answers generated with continuous batching,
 * extracted by {@link Answers} and compared with the gold answer. Three ways to answer a problem: one greedy
 * output; {@code K} samples and a majority vote; or DeepConf (offline: a budget of traces, filtered and weighted by
 * confidence, next to the plain majority of the same traces; online: early-stopped traces and a consensus stop,
 * next to the plain majority of a full budget).
 */
public final class MathEval {
    private MathEval() {
    }

    /** A problem and its gold answer ({@link Answers#gold}). */
    public record Problem(int index, String question, String gold) {
    }

    /** Reads up to {@code limit} problems (all when {@code limit <= 0}); errors name the file and line. */
    public static List<Problem> read(Path file, int limit) throws IOException {
        List<Problem> out = new ArrayList<>();
        for (SftData.Item item : SftData.read(file)) {
            if (limit > 0 && out.size() >= limit) {
                break;
            }
            if (item.messages() == null || item.messages().size() < 2) {
                throw new IllegalArgumentException(item.where() + ": evaluation needs a question and a reference solution "
                        + "(GSM8K question/answer or MetaMathQA query/response)");
            }
            List<ChatTemplate.Message> m = item.messages();
            String question = m.get(m.size() - 2).content();
            String gold;
            try {
                gold = Answers.gold(m.get(m.size() - 1).content());
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(item.where() + ": " + e.getMessage(), e);
            }
            out.add(new Problem(out.size(), question, gold));
        }
        return out;
    }

    /** How answers are generated. */
    public enum Mode { GREEDY, SAMPLES, DEEPCONF_OFFLINE, DEEPCONF_ONLINE }

    /**
     * @param samples    traces per problem for {@link Mode#SAMPLES}; the budget for the DeepConf modes
     * @param measure    the confidence that filters and weighs offline votes (online uses the lowest group, as the paper)
     * @param warmup     online warm-up traces
     * @param consensus  online stop: the leading answer's weighted share
     * @param baseline   online: also run the plain majority of {@code samples} full traces
     */
    public record Settings(Mode mode, int maxNewTokens, int batch, int samples, double temperature, int topK, double topP, long seed,
                           double eta, int window, int topLogprobs, DeepConf.Measure measure, int warmup, double consensus, boolean baseline,
                           Set<Integer> stopIds, List<String> stopStrings, Generator.LoopPolicy loop) {
        public Settings {
            if (maxNewTokens < 1 || batch < 1 || samples < 1) {
                throw new IllegalArgumentException("evaluation needs max-new-tokens, batch and samples >= 1");
            }
            if ((mode == Mode.DEEPCONF_OFFLINE || mode == Mode.DEEPCONF_ONLINE) && topLogprobs < 1) {
                throw new IllegalArgumentException("DeepConf needs the top-k log-probabilities of every token (top-logprobs >= 1)");
            }
            if (mode != Mode.GREEDY && temperature <= 0) {
                throw new IllegalArgumentException("sampling several answers needs a temperature > 0");
            }
            stopIds = Set.copyOf(stopIds);
            stopStrings = List.copyOf(stopStrings);
        }

        Generator.Options options(long seed, boolean logprobs) {
            Sampler s = mode == Mode.GREEDY ? Sampler.greedy() : Sampler.sampling(temperature, topK, topP, seed);
            return new Generator.Options(maxNewTokens, s, stopIds, stopStrings, loop, logprobs ? topLogprobs : 0);
        }
    }

    /**
     * One generated trace.
     *
     * @param group   which run it belongs to: "greedy", "sample", "offline", "online" or "baseline"
     * @param stoppedEarly ended by DeepConf's confidence bar
     */
    public record Trace(int problem, String group, int index, String text, String answer, int tokens, boolean loop,
                        Generator.StopReason reason, boolean stoppedEarly, List<float[]> logprobs) {
        public double[] confidences() {
            return DeepConf.tokenConfidences(logprobs);
        }
    }

    /** A voting method's outcome on one problem. */
    public record Voted(String answer, boolean correct, int traces, long tokens, DeepConf.Vote vote) {
    }

    /**
     * The outcome for one problem: {@code primary} is what the mode reports (greedy answer, majority of samples,
     * DeepConf's vote); {@code majority} the plain majority at the same budget (null for greedy).
     */
    public record Outcome(Problem problem, Voted primary, Voted majority, String output, int loops, int traces, int stoppedEarly) {
    }

    /** Progress and traces as they come. */
    public interface Listener {
        default void trace(Trace t) {
        }

        default void problem(Outcome o) {
        }
    }

    /** What a prompt is made of a question with. */
    public interface Prompter {
        int[] prompt(String question);
    }

    /** Runs every problem; outcomes in problem order. */
    public static List<Outcome> run(LanguageModel model, Tokenizer tok, Prompter prompter, List<Problem> problems, Settings s, Listener listener) {
        int[][] prompts = new int[problems.size()][];
        for (int i = 0; i < prompts.length; i++) {
            prompts[i] = prompter.prompt(problems.get(i).question());
        }
        List<Outcome> out = new ArrayList<>();
        switch (s.mode()) {
            case GREEDY -> {
                List<List<Trace>> traces = fullTraces(model, tok, prompts, 1, s, "greedy", listener);
                for (Problem p : problems) {
                    Trace t = traces.get(p.index()).get(0);
                    Voted v = new Voted(t.answer(), Answers.equivalent(t.answer(), p.gold()), 1, t.tokens(), null);
                    emit(out, listener, new Outcome(p, v, null, t.text(), t.loop() ? 1 : 0, 1, 0));
                }
            }
            case SAMPLES, DEEPCONF_OFFLINE -> {
                boolean conf = s.mode() == Mode.DEEPCONF_OFFLINE;
                List<List<Trace>> traces = fullTraces(model, tok, prompts, s.samples(), s, conf ? "offline" : "sample", listener);
                for (Problem p : problems) {
                    List<Trace> ts = traces.get(p.index());
                    Voted majority = majority(p, ts);
                    Voted primary = majority;
                    if (conf) {
                        double[] c = ts.stream().mapToDouble(t -> DeepConf.measure(t.confidences(), s.measure(), s.window())).toArray();
                        DeepConf.Vote v = DeepConf.filtered(answers(ts), c, s.eta());
                        primary = new Voted(v.answer(), Answers.equivalent(v.answer(), p.gold()), ts.size(), tokens(ts), v);
                    }
                    emit(out, listener, new Outcome(p, primary, conf ? majority : null, representative(ts, primary.answer()), loops(ts), ts.size(), 0));
                }
            }
            case DEEPCONF_ONLINE -> {
                List<List<Trace>> base = s.baseline() ? fullTraces(model, tok, prompts, s.samples(), s, "baseline", listener) : null;
                online(model, tok, prompts, s, listener, (pi, ctl, ts) -> {
                    Problem p = problems.get(pi);
                    DeepConf.Vote v = ctl.vote();
                    Voted primary = new Voted(v.answer(), Answers.equivalent(v.answer(), p.gold()), ts.size(), tokens(ts), v);
                    Voted majority = base == null ? null : majority(p, base.get(pi));
                    int early = (int) ts.stream().filter(Trace::stoppedEarly).count();
                    emit(out, listener, new Outcome(p, primary, majority, representative(ts, v.answer()), loops(ts), ts.size(), early));
                });
            }
        }
        return out;
    }

    private static void emit(List<Outcome> out, Listener l, Outcome o) {
        out.add(o);
        l.problem(o);
    }

    private static List<String> answers(List<Trace> ts) {
        List<String> a = new ArrayList<>();
        for (Trace t : ts) {
            a.add(t.answer());
        }
        return a;
    }

    private static long tokens(List<Trace> ts) {
        return ts.stream().mapToLong(Trace::tokens).sum();
    }

    private static int loops(List<Trace> ts) {
        return (int) ts.stream().filter(Trace::loop).count();
    }

    private static Voted majority(Problem p, List<Trace> ts) {
        DeepConf.Vote v = DeepConf.majority(answers(ts));
        return new Voted(v.answer(), Answers.equivalent(v.answer(), p.gold()), ts.size(), tokens(ts), v);
    }

    /** The text of the first trace whose answer won (or the first trace). */
    private static String representative(List<Trace> ts, String answer) {
        for (Trace t : ts) {
            if (answer != null && Answers.equivalent(t.answer(), answer)) {
                return t.text();
            }
        }
        return ts.isEmpty() ? "" : ts.get(0).text();
    }

    /** {@code k} complete traces per prompt, all problems through one continuous batch. */
    private static List<List<Trace>> fullTraces(LanguageModel model, Tokenizer tok, int[][] prompts, int k, Settings s, String group, Listener l) {
        boolean logprobs = !group.equals("greedy") && s.topLogprobs() > 0;
        List<List<Trace>> out = new ArrayList<>();
        for (int i = 0; i < prompts.length; i++) {
            out.add(new ArrayList<>());
        }
        int[] next = {0};
        int total = prompts.length * k;
        BatchGenerator.run(model, tok, s.batch(), () -> {
            if (next[0] >= total) {
                return null;
            }
            int n = next[0]++;
            int p = n / k;
            long seed = s.seed() + 1_000_003L * p + n % k;
            return new BatchGenerator.Request(prompts[p], s.options(seed, logprobs), null, null,
                    new int[] {p, n % k});
        }, (r, res) -> {
            int[] tag = (int[]) r.tag();
            Trace t = trace(tag[0], group, tag[1], res, false);
            out.get(tag[0]).add(t);
            l.trace(t);
            return false;
        });
        for (List<Trace> ts : out) {
            ts.sort((a, b) -> Integer.compare(a.index(), b.index()));
        }
        return out;
    }

    private static Trace trace(int problem, String group, int index, Generator.Result r, boolean early) {
        return new Trace(problem, group, index, r.text(), Answers.extract(r.text()), r.ids().length, r.loopDetected(), r.reason(), early, r.logprobs());
    }

    /** Receives a problem's finished online run, in problem order. */
    private interface OnlineDone {
        void done(int problem, OnlineDeepConf ctl, List<Trace> traces);
    }

    /** One problem's online run in progress. */
    private static final class OnlineRun {
        final int problem;
        final OnlineDeepConf ctl;
        final List<Trace> traces = new ArrayList<>();
        int running;

        OnlineRun(int problem, Settings s) {
            this.problem = problem;
            this.ctl = new OnlineDeepConf(Math.min(s.warmup(), s.samples()), s.eta(), s.window(), s.consensus(), s.samples());
        }

        boolean complete() {
            return running == 0 && !ctl.wantsMore();
        }
    }

    /**
     * DeepConf online over all problems in one continuous batch: each problem's warm-up traces, then its
     * early-stopped ones until consensus or the budget; rows a problem cannot use yet (its warm-up still running)
     * go to the next problems, a few of which are open at a time. A problem's traces still running when it reaches
     * consensus end at their next token and do not vote.
     */
    private static void online(LanguageModel model, Tokenizer tok, int[][] prompts, Settings s, Listener l, OnlineDone done) {
        java.util.ArrayDeque<OnlineRun> open = new java.util.ArrayDeque<>();
        int warm = Math.min(s.warmup(), s.samples());
        int maxOpen = Math.max(2, (s.batch() + warm - 1) / warm + 1);
        int[] next = {0};
        BatchGenerator.run(model, tok, s.batch(), () -> {
            while (true) {
                for (OnlineRun run : open) {
                    if (run.ctl.startable() > 0) {
                        int index = run.ctl.started();
                        OnlineDeepConf.Monitor mon = run.ctl.start();
                        run.running++;
                        boolean[] flags = {false, false}; // stopped by the confidence bar, cancelled by consensus
                        BatchGenerator.StepHook hook = (id, top) -> {
                            if (run.ctl.consensus()) {
                                flags[1] = true;
                                return true;
                            }
                            flags[0] = mon.add(DeepConf.tokenConfidence(top));
                            return flags[0];
                        };
                        return new BatchGenerator.Request(prompts[run.problem], s.options(s.seed() + 1_000_003L * run.problem + index, true), hook,
                                null, new Object[] {run, index, flags});
                    }
                }
                if (open.stream().filter(run -> !run.complete()).count() >= maxOpen || next[0] >= prompts.length) {
                    return null;
                }
                open.add(new OnlineRun(next[0]++, s));
            }
        }, (r, res) -> {
            Object[] tag = (Object[]) r.tag();
            OnlineRun run = (OnlineRun) tag[0];
            boolean[] flags = (boolean[]) tag[2];
            Trace t = trace(run.problem, "online", (Integer) tag[1], res, flags[0]);
            run.traces.add(t);
            run.running--;
            l.trace(t);
            if (!flags[1]) {
                run.ctl.finish(t.answer(), t.confidences(), flags[0]);
            }
            // finished problems leave in order
            while (!open.isEmpty() && open.peekFirst().complete()) {
                OnlineRun f = open.pollFirst();
                f.traces.sort((a, b) -> Integer.compare(a.index(), b.index()));
                done.done(f.problem, f.ctl, f.traces);
            }
            return false;
        });
        if (!open.isEmpty()) {
            throw new IllegalStateException("online DeepConf ended with " + open.size() + " problems unfinished");
        }
    }
}
