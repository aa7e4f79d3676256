package ai.kestrel.model.generate;

import ai.kestrel.engine.Autograd;
import ai.kestrel.engine.Scope;
import ai.kestrel.engine.Tensor;
import ai.kestrel.kernels.Buf;
import ai.kestrel.model.LanguageModel;
import ai.kestrel.model.tokenizer.Tokenizer;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.Consumer;

/**
 * Generates many sequences side by side (continuous batching). Each request's prompt is prefilled alone (a prompt
 * equal to the previous one is prefilled once and copied: the many traces of one question), then joins a batch
 * whose rows take one token each per step: one matrix product per weight for the whole batch instead of one
 * matrix-vector product per sequence. A row that ends leaves at once (the last row moves into its place) and a
 * waiting request takes the free row. Rows sit at different positions; each keeps its own sampler, stop rules and
 * streamed text, so a request generates the same tokens as {@link Generator#generate} would alone.
 */
public final class BatchGenerator {
    private BatchGenerator() {
    }

    /** Watches a sequence token by token; true ends it here (reason {@link Generator.StopReason#STOPPED}). */
    public interface StepHook {
        /** @param topLogprobs the step's top-k log-probabilities, or null when the options ask for none */
        boolean stop(int token, float[] topLogprobs);
    }

    /**
     * A sequence to generate.
     *
     * @param hook   may end the sequence early (null for none)
     * @param onText receives its text as it becomes final (null for none)
     * @param tag    the caller's, handed back with the result
     */
    public record Request(int[] prompt, Generator.Options options, StepHook hook, Consumer<String> onText, Object tag) {
        public Request {
            if (prompt.length == 0) {
                throw new IllegalArgumentException("generation needs at least one prompt token");
            }
        }
    }

    /** Where requests come from: null means none to start now (the run ends once no row is active either). */
    public interface Source {
        Request next();
    }

    /** What the caller learns as each sequence ends; returning true cancels every other active sequence. */
    public interface Sink {
        boolean done(Request request, Generator.Result result);
    }

    /** Counts of one run. */
    public record Stats(int sequences, int steps, long tokens, int prefills, double seconds) {
        public double tokensPerSecond() {
            return seconds <= 0 ? 0 : tokens / seconds;
        }
    }

    private static final class Row {
        final Request request;
        final Sequence seq;
        final double prefill;
        final long joined;
        float[] logits;

        Row(Request request, Sequence seq, double prefill, float[] logits) {
            this.request = request;
            this.seq = seq;
            this.prefill = prefill;
            this.logits = logits;
            this.joined = System.nanoTime();
        }
    }

    /** Runs the requests of a list and returns their results in the same order. */
    public static List<Generator.Result> generate(LanguageModel model, Tokenizer tok, List<Request> requests, int maxBatch) {
        Generator.Result[] out = new Generator.Result[requests.size()];
        int[] next = {0};
        List<Request> tagged = new ArrayList<>();
        for (int i = 0; i < requests.size(); i++) {
            Request r = requests.get(i);
            tagged.add(new Request(r.prompt(), r.options(), r.hook(), r.onText(), i));
        }
        run(model, tok, maxBatch, () -> next[0] < tagged.size() ? tagged.get(next[0]++) : null, (r, res) -> {
            out[(Integer) r.tag()] = res;
            return false;
        });
        return Arrays.asList(out);
    }

    /** Generates until {@code source} has nothing to start and no row is active. */
    public static Stats run(LanguageModel model, Tokenizer tok, int maxBatch, Source source, Sink sink) {
        if (maxBatch < 1) {
            throw new IllegalArgumentException("a batch needs at least one row, got " + maxBatch);
        }
        long t0 = System.nanoTime();
        int vocab = model.vocabSize();
        List<Row> rows = new ArrayList<>();
        LanguageModel.Cache batch = null;
        LanguageModel.Cache shared = null; // the last prompt's prefilled cache, reused while the prompt repeats
        int[] sharedPrompt = null;
        float[] sharedLogits = null;
        int sequences = 0;
        int steps = 0;
        int prefills = 0;
        long tokens = 0;
        try (var ng = Autograd.noGrad()) {
            while (true) {
                // fill free rows
                while (rows.size() < maxBatch) {
                    Request r = source.next();
                    if (r == null) {
                        break;
                    }
                    sequences++;
                    Sequence seq = new Sequence(tok, r.options(), r.onText(), r.hook());
                    if (seq.ended()) {
                        sink.done(r, seq.result(r.prompt().length, 0, 0));
                        continue;
                    }
                    int need = r.prompt().length + r.options().maxNewTokens() + 1;
                    long p0 = System.nanoTime();
                    if (sharedPrompt == null || !Arrays.equals(sharedPrompt, r.prompt()) || shared.capacity() < need) {
                        if (shared != null) {
                            shared.close();
                        }
                        shared = model.newCache(1, need);
                        sharedPrompt = r.prompt().clone();
                        sharedLogits = Generator.lastRow(model, r.prompt(), shared);
                        prefills++;
                    }
                    double prefill = (System.nanoTime() - p0) / 1e9;
                    if (batch == null || batch.capacity() < need) {
                        batch = grow(model, batch, rows.size(), maxBatch, Math.max(need, batch == null ? 0 : batch.capacity()));
                    }
                    batch.copyRow(shared, 0, rows.size());
                    rows.add(new Row(r, seq, prefill, sharedLogits.clone()));
                }
                if (rows.isEmpty()) {
                    break;
                }
                // every row takes a token; ended rows leave
                boolean cancel = false;
                for (int i = 0; i < rows.size(); i++) {
                    Row row = rows.get(i);
                    if (row.seq.step(row.logits, vocab)) {
                        cancel |= sink.done(row.request, row.seq.result(row.request.prompt().length, row.prefill,
                                (System.nanoTime() - row.joined) / 1e9));
                    }
                    tokens++;
                }
                if (cancel) {
                    for (Row row : rows) {
                        if (!row.seq.ended()) {
                            row.seq.cancel();
                            sink.done(row.request, row.seq.result(row.request.prompt().length, row.prefill, (System.nanoTime() - row.joined) / 1e9));
                        }
                    }
                }
                for (int i = rows.size() - 1; i >= 0; i--) {
                    if (rows.get(i).seq.ended()) {
                        int last = rows.size() - 1;
                        if (i != last) {
                            batch.copyRow(batch, last, i);
                            rows.set(i, rows.get(last));
                        }
                        rows.remove(last);
                    }
                }
                if (rows.isEmpty()) {
                    continue;
                }
                // one step for the rows left
                int n = rows.size();
                int[] ids = new int[n];
                for (int i = 0; i < n; i++) {
                    ids[i] = rows.get(i).seq.lastId();
                }
                LanguageModel.Cache view = n == batch.batch() ? batch : batch.prefix(n);
                try (Scope s = Scope.open()) {
                    Tensor logits = model.forwardLast(Tensor.ofInts(ids, n, 1), view).to(ai.kestrel.engine.Device.CPU);
                    int v = logits.dim(2);
                    for (int i = 0; i < n; i++) {
                        Row row = rows.get(i); // each row keeps its logits array from step to step
                        MemorySegment.copy(logits.segment(), Buf.F32, (long) i * v * 4, row.logits, 0, v);
                    }
                }
                steps++;
            }
        } finally {
            if (shared != null) {
                shared.close();
            }
            if (batch != null) {
                batch.close();
            }
        }
        return new Stats(sequences, steps, tokens, prefills, (System.nanoTime() - t0) / 1e9);
    }

    /** A batch cache of {@code capacity} holding the first {@code active} rows of {@code old} (closed). */
    private static LanguageModel.Cache grow(LanguageModel model, LanguageModel.Cache old, int active, int maxBatch, int capacity) {
        LanguageModel.Cache c = model.newCache(maxBatch, capacity);
        if (old != null) {
            for (int i = 0; i < active; i++) {
                c.copyRow(old, i, i);
            }
            old.close();
        }
        return c;
    }
}
