package ai.kestrel.model.generate;

import ai.kestrel.model.tokenizer.StreamDecoder;
import ai.kestrel.model.tokenizer.Tokenizer;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;

/**
 * One sequence being generated: takes a token from each row of logits it is given, records the top-k
 * log-probabilities, streams text that can no longer become the start of a stop string, and decides when it has
 * ended (end-of-text id, stop string, token limit, a repetition loop under {@link Generator.LoopPolicy#STOP}, or its
 * {@link BatchGenerator.StepHook}).
 */
final class Sequence {
    private final Generator.Options o;
    private final Consumer<String> onText;
    private final BatchGenerator.StepHook hook;
    private final StreamDecoder dec;
    private final RepetitionDetector loops = RepetitionDetector.standard();
    private final int maxStop;
    private final List<Integer> out = new ArrayList<>();
    private final List<float[]> logprobs = new ArrayList<>();
    private final StringBuilder text = new StringBuilder();
    private final Sampler sampler;
    private int emitted;
    private boolean loop;
    private Generator.StopReason reason;

    Sequence(Tokenizer tok, Generator.Options o, Consumer<String> onText, BatchGenerator.StepHook hook) {
        this.o = o;
        this.onText = onText;
        this.hook = hook;
        this.sampler = o.sampler();
        this.dec = tok.streamDecoder();
        this.maxStop = o.stopStrings().stream().mapToInt(String::length).max().orElse(0);
        if (o.maxNewTokens() == 0) {
            finish(Generator.StopReason.LENGTH);
        }
    }

    boolean ended() {
        return reason != null;
    }

    int lastId() {
        return out.get(out.size() - 1);
    }

    int tokens() {
        return out.size();
    }

    /** Takes the next token from {@code logits[0, vocab)}; true when the sequence has ended with it. */
    boolean step(float[] logits, int vocab) {
        if (ended()) {
            throw new IllegalStateException("the sequence has ended");
        }
        float[] top = null;
        if (o.topLogprobs() > 0) {
            top = TopLogprobs.of(logits, vocab, o.topLogprobs());
            logprobs.add(top);
        }
        int id = sampler.next(logits, vocab);
        out.add(id);
        if (o.stopIds().contains(id)) {
            return finish(Generator.StopReason.END_OF_TEXT);
        }
        text.append(dec.next(id));
        int cut = stopIndex(text, o.stopStrings());
        if (cut >= 0) {
            text.setLength(cut);
            return finish(Generator.StopReason.STOP_STRING);
        }
        // release what can no longer become the start of a stop string
        int safe = Math.max(emitted, text.length() - Math.max(0, maxStop - 1));
        if (onText != null && safe > emitted) {
            onText.accept(text.substring(emitted, safe));
        }
        emitted = Math.max(emitted, safe);
        if (loops.add(id)) {
            loop = true;
            if (o.loop() == Generator.LoopPolicy.STOP) {
                return finish(Generator.StopReason.LOOP);
            }
        }
        if (hook != null && hook.stop(id, top)) {
            return finish(Generator.StopReason.STOPPED);
        }
        if (out.size() >= o.maxNewTokens()) {
            return finish(Generator.StopReason.LENGTH);
        }
        return false;
    }

    /** Ends the sequence from outside (the caller no longer needs it). */
    void cancel() {
        if (!ended()) {
            finish(Generator.StopReason.STOPPED);
        }
    }

    private boolean finish(Generator.StopReason why) {
        reason = why;
        if (why != Generator.StopReason.STOP_STRING) {
            text.append(dec.finish());
        }
        if (onText != null && text.length() > emitted) {
            onText.accept(text.substring(emitted));
        }
        emitted = text.length();
        return true;
    }

    Generator.Result result(int promptTokens, double prefillSeconds, double decodeSeconds) {
        return new Generator.Result(out.stream().mapToInt(Integer::intValue).toArray(), text.toString(), reason, loop, promptTokens,
                prefillSeconds, decodeSeconds, logprobs);
    }

    private static int stopIndex(CharSequence text, List<String> stops) {
        int best = -1;
        for (String s : stops) {
            int i = text.toString().indexOf(s);
            if (i >= 0 && (best < 0 || i < best)) {
                best = i;
            }
        }
        return best;
    }
}
