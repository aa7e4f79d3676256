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

    /**
     * Next token id from the first {@code n} logits (the rest are ids the tokenizer does not have). Only the head of
     * the distribution is sorted: candidates within a logit span of the maximum, widened until they hold the top-k
     * and the nucleus; the pick equals {@link #nextReference}'s, which sorts everything.
     */
    public int next(float[] logits, int n) {
        if (isGreedy()) {
            return argmax(logits, n);
        }
        float max = max(logits, n);
        if (topK == 0 && topP >= 1) {
            return drawInIdOrder(logits, n, max);
        }
        int keep = topK > 0 ? Math.min(topK, n) : n;
        double sumAll = topK == 0 ? sumInIdOrder(logits, n, max) : Double.NaN;
        long[] keys = new long[Math.min(n, 1024)];
        for (double span = 16; ; span *= 2) {
            boolean all = span > 4096;
            float cut = (float) (max - span * temperature);
            int c = 0;
            for (int i = 0; i < n; i++) {
                if (all || logits[i] >= cut) {
                    if (c == keys.length) {
                        keys = java.util.Arrays.copyOf(keys, Math.min(n, keys.length * 2));
                    }
                    keys[c++] = key(logits[i], i);
                }
            }
            if (!all && c < n && topK > 0 && c < keep) {
                continue;
            }
            java.util.Arrays.sort(keys, 0, c);
            int m = Math.min(c, keep);
            double[] p = new double[m];
            for (int i = 0; i < m; i++) {
                p[i] = weight(logits[(int) keys[i]], max);
            }
            int picked = pick(p, m, topK > 0 ? sumPrefix(p, keep) : sumAll, all || c == n || topK > 0);
            if (picked >= 0) {
                return (int) keys[picked];
            }
        }
    }

    /**
     * The plain twin of {@link #next}: every id sorted (by logit, then id), the same arithmetic. Advances the
     * generator exactly as {@link #next} does.
     */
    public int nextReference(float[] logits, int n) {
        if (isGreedy()) {
            return argmax(logits, n);
        }
        float max = max(logits, n);
        if (topK == 0 && topP >= 1) {
            return drawInIdOrder(logits, n, max);
        }
        Integer[] order = new Integer[n];
        for (int i = 0; i < n; i++) {
            order[i] = i;
        }
        Arrays.sort(order, (a, b) -> logits[b] != logits[a] ? Float.compare(logits[b], logits[a]) : Integer.compare(a, b));
        int keep = topK > 0 ? Math.min(topK, n) : n;
        double[] p = new double[keep];
        for (int i = 0; i < keep; i++) {
            p[i] = weight(logits[order[i]], max);
        }
        int picked = pick(p, keep, topK > 0 ? sumPrefix(p, keep) : sumInIdOrder(logits, n, max), true);
        return order[picked];
    }

    /** Ascending order of keys = descending logit, then ascending id; the id sits in the low 32 bits. */
    private static long key(float v, int id) {
        int bits = Float.floatToIntBits(v);
        int sortable = bits ^ ((bits >> 31) & 0x7fffffff);
        return ((long) ~sortable << 32) | id;
    }

    private double weight(float logit, float max) {
        return Math.exp((logit - (double) max) / temperature);
    }

    private static float max(float[] logits, int n) {
        float m = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < n; i++) {
            m = Math.max(m, logits[i]);
        }
        return m;
    }

    private double sumInIdOrder(float[] logits, int n, float max) {
        double s = 0;
        for (int i = 0; i < n; i++) {
            s += weight(logits[i], max);
        }
        return s;
    }

    private static double sumPrefix(double[] p, int k) {
        double s = 0;
        for (int i = 0; i < k; i++) {
            s += p[i];
        }
        return s;
    }

    /** Sampling from the whole distribution: nothing to sort, ids in order. */
    private int drawInIdOrder(float[] logits, int n, float max) {
        double u = rnd.nextDouble() * sumInIdOrder(logits, n, max);
        int last = 0;
        for (int i = 0; i < n; i++) {
            double w = weight(logits[i], max);
            if (w > 0) {
                last = i;
            }
            u -= w;
            if (u <= 0) {
                return i;
            }
        }
        return last;
    }

    /**
     * Nucleus cut over the sorted weights {@code p[0, m)} (normalised by {@code sum}), then a draw; the index drawn,
     * or -1 when the head does not reach the nucleus and {@code complete} is false (nothing drawn then).
     */
    private int pick(double[] p, int m, double sum, boolean complete) {
        double mass = 0;
        int cut = -1;
        for (int i = 0; i < m; i++) {
            mass += p[i] / sum;
            if (mass >= topP) {
                cut = i + 1;
                break;
            }
        }
        if (cut < 0) {
            if (!complete) {
                return -1;
            }
            cut = m;
        }
        double total = 0;
        for (int i = 0; i < cut; i++) {
            total += p[i];
        }
        double u = rnd.nextDouble() * total;
        for (int i = 0; i < cut; i++) {
            u -= p[i];
            if (u <= 0) {
                return i;
            }
        }
        return cut - 1;
    }
}
