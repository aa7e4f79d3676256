package ai.kestrel.model.generate;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Picks the next token from a row of logits. Greedy takes the argmax (lowest id on ties, as the fixtures do).
 * Sampling applies, in Hugging Face's order, temperature, top-k, then top-p (nucleus: the smallest set of the
 * most likely tokens whose probabilities reach {@code p}), then draws with a seeded generator, so a seed
 * reproduces a run.
 */
public final class Sampler {
    private final double temperature;
    private final int topK;
    private final double topP;
    private final SplittableRandom rnd;

    private Sampler(double temperature, int topK, double topP, long seed) {
        if (temperature < 0 || topK < 0 || topP <= 0 || topP > 1) {
            throw new IllegalArgumentException("sampling needs temperature >= 0, top-k >= 0 and 0 < top-p <= 1");
        }
        this.temperature = temperature;
        this.topK = topK;
        this.topP = topP;
        this.rnd = new SplittableRandom(seed);
    }

    /** Argmax, lowest id on ties. */
    public static Sampler greedy() {
        return new Sampler(0, 0, 1, 0);
    }

    /** Temperature sampling (0 means greedy), top-k (0 means all), top-p (1 means all). */
    public static Sampler sampling(double temperature, int topK, double topP, long seed) {
        return new Sampler(temperature, topK, topP, seed);
    }

    public boolean isGreedy() {
        return temperature == 0;
    }

    /** The argmax of {@code logits[0, n)}, lowest index on ties. */
    public static int argmax(float[] logits, int n) {
        int best = 0;
        for (int i = 1; i < n; i++) {
            if (logits[i] > logits[best]) {
                best = i;
            }
        }
        return best;
    }

    /** Next token id from the first {@code n} logits (the rest are ids the tokenizer does not have). */
    public int next(float[] logits, int n) {
        if (isGreedy()) {
            return argmax(logits, n);
        }
        Integer[] order = new Integer[n];
        for (int i = 0; i < n; i++) {
            order[i] = i;
        }
        Arrays.sort(order, (a, b) -> logits[b] != logits[a] ? Float.compare(logits[b], logits[a]) : Integer.compare(a, b));
        int keep = topK > 0 ? Math.min(topK, n) : n;
        double max = logits[order[0]] / temperature;
        double[] p = new double[keep];
        double sum = 0;
        for (int i = 0; i < keep; i++) {
            p[i] = Math.exp(logits[order[i]] / temperature - max);
            sum += p[i];
        }
        // nucleus: keep the head whose mass first reaches top-p (at least one token)
        double mass = 0;
        int cut = keep;
        for (int i = 0; i < keep; i++) {
            mass += p[i] / sum;
            if (mass >= topP) {
                cut = i + 1;
                break;
            }
        }
        double total = 0;
        for (int i = 0; i < cut; i++) {
            total += p[i];
        }
        double u = rnd.nextDouble() * total;
        for (int i = 0; i < cut; i++) {
            u -= p[i];
            if (u <= 0) {
                return order[i];
            }
        }
        return order[cut - 1];
    }
}
