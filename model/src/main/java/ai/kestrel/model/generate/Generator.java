package ai.kestrel.model.generate;

import ai.kestrel.engine.Autograd;
import ai.kestrel.engine.Scope;
import ai.kestrel.engine.Tensor;
import ai.kestrel.model.LanguageModel;
import ai.kestrel.model.tokenizer.Tokenizer;
import java.util.List;
import java.util.Set;
import java.util.function.Consumer;

/**
 * Runs a prompt through the model once (chunked scans, attention over the prompt), then decodes one token at a
 * time from the cache (conv windows, SSM states, keys and values): each new token costs O(1) in the sequence
 * length for the Mamba part. Text is streamed as it becomes valid UTF-8, held back only as long as it could
 * still be the start of a stop string.
 */
public final class Generator {
    /** Why generation ended. */
    public enum StopReason { END_OF_TEXT, STOP_STRING, LENGTH, LOOP, /** ended by the caller (DeepConf's confidence bar, a batch cancelled) */ STOPPED }

    /** What to do when the repetition detector fires. */
    public enum LoopPolicy { STOP, REPORT, IGNORE }

    /**
     * @param maxNewTokens  token limit
     * @param stopIds       end-of-text ids (generation stops after emitting one; its text is not shown)
     * @param stopStrings   texts that end generation (the text is cut before them)
     * @param topLogprobs   when {@code > 0}, the top-k log-probabilities of every step are recorded (DeepConf)
     */
    public record Options(int maxNewTokens, Sampler sampler, Set<Integer> stopIds, List<String> stopStrings, LoopPolicy loop,
                          int topLogprobs) {
        public Options {
            if (maxNewTokens < 0) {
                throw new IllegalArgumentException("maxNewTokens must be >= 0");
            }
            stopIds = Set.copyOf(stopIds);
            stopStrings = List.copyOf(stopStrings);
        }

        public static Options greedy(int maxNewTokens, Set<Integer> stopIds) {
            return new Options(maxNewTokens, Sampler.greedy(), stopIds, List.of(), LoopPolicy.REPORT, 0);
        }
    }

    /**
     * @param ids          generated ids (including a final end-of-text id)
     * @param logprobs     per step, the top-k log-probabilities, highest first (empty unless asked for)
     * @param loopDetected whether the repetition detector fired
     */
    public record Result(int[] ids, String text, StopReason reason, boolean loopDetected, int promptTokens,
                         double prefillSeconds, double decodeSeconds, List<float[]> logprobs) {
        /** Decode speed, tokens per second (0 when nothing was decoded after the first token). */
        public double decodeTokensPerSecond() {
            return ids.length <= 1 || decodeSeconds <= 0 ? 0 : (ids.length - 1) / decodeSeconds;
        }

        public double prefillTokensPerSecond() {
            return prefillSeconds <= 0 ? 0 : promptTokens / prefillSeconds;
        }
    }

    private Generator() {
    }

    /** Generates from {@code prompt} ids, passing text to {@code onText} as it becomes final (may be null). */
    public static Result generate(LanguageModel model, Tokenizer tok, int[] prompt, Options o, Consumer<String> onText) {
        if (prompt.length == 0) {
            throw new IllegalArgumentException("generation needs at least one prompt token");
        }
        // every logit is a candidate, as in HF and llama.cpp: ids past the tokenizer's end (embedding padding)
        // can be picked and decode to nothing
        int vocab = model.vocabSize();
        Sequence seq = new Sequence(tok, o, onText, null);
        double prefill = 0;
        long t1 = System.nanoTime();
        if (!seq.ended()) {
            try (LanguageModel.Cache cache = model.newCache(1, prompt.length + o.maxNewTokens() + 1); var ng = Autograd.noGrad()) {
                long t0 = System.nanoTime();
                float[] logits = lastRow(model, prompt, cache);
                t1 = System.nanoTime();
                prefill = (t1 - t0) / 1e9;
                while (!seq.step(logits, vocab)) {
                    logits = lastRow(model, new int[] {seq.lastId()}, cache);
                }
            }
        }
        return seq.result(prompt.length, prefill, (System.nanoTime() - t1) / 1e9);
    }

    /** The logits of the last position after feeding {@code ids} through {@code cache}. */
    static float[] lastRow(LanguageModel model, int[] ids, LanguageModel.Cache cache) {
        try (Scope s = Scope.open(); var ng = ai.kestrel.engine.Autograd.noGrad()) {
            Tensor logits = model.forwardLast(Tensor.ofInts(ids, 1, ids.length), cache);
            int v = logits.dim(2);
            logits = logits.to(ai.kestrel.engine.Device.CPU);
            float[] row = new float[v];
            java.lang.foreign.MemorySegment.copy(logits.segment(), ai.kestrel.kernels.Buf.F32, 0, row, 0, v);
            return row;
        }
    }
}
