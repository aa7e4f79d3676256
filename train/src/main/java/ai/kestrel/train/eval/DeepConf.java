package ai.kestrel.train.eval;

import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * DeepConf (Fu et al. 2025, "Deep Think with Confidence"): confidence measures of a reasoning trace from the top-k
 * log-probabilities of its tokens, and the votes that use them.
 *
 * <p>Token confidence {@code C_i = -mean(top-k log-probs at step i)} (a peaked distribution gives a high value).
 * Group confidences are the means of {@code C} over every window of {@code W} consecutive tokens (stride 1); a trace
 * shorter than {@code W} has one group, its mean; an empty trace has confidence 0, the lowest possible. The measures
 * of a trace are its mean, its lowest group, the mean of its lowest 10% of groups (at least one) and its tail (the
 * mean of the last {@code W} tokens). Unlike the reference code, confidences are not rounded to three decimals.
 */
public final class DeepConf {
    private DeepConf() {
    }

    /** Window of the group confidences in the paper and its code. */
    public static final int DEFAULT_WINDOW = 2048;

    /** Log-probabilities per step used in the paper and its code. */
    public static final int DEFAULT_TOP_K = 20;

    /** What a trace's confidence is. */
    public enum Measure {
        MEAN, LOWEST_GROUP, BOTTOM10, TAIL;

        /** {@code mean}, {@code lowest_group}, {@code bottom10}, {@code tail} (case and dashes ignored). */
        public static Measure parse(String s) {
            String k = s.strip().toUpperCase(Locale.ROOT).replace('-', '_');
            return switch (k) {
                case "MEAN" -> MEAN;
                case "LOWEST_GROUP", "LOWEST", "MIN_WINDOW" -> LOWEST_GROUP;
                case "BOTTOM10", "BOTTOM_10", "BOTTOM_WINDOW" -> BOTTOM10;
                case "TAIL" -> TAIL;
                default -> throw new IllegalArgumentException("unknown confidence measure '" + s + "' (mean, lowest_group, bottom10, tail)");
            };
        }

        public String key() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    /** {@code -mean} of one step's top-k log-probabilities. */
    public static double tokenConfidence(float[] topLogprobs) {
        if (topLogprobs.length == 0) {
            throw new IllegalArgumentException("a step without log-probabilities has no confidence");
        }
        double s = 0;
        for (float v : topLogprobs) {
            s += v;
        }
        return -s / topLogprobs.length;
    }

    public static double[] tokenConfidences(List<float[]> logprobs) {
        double[] c = new double[logprobs.size()];
        for (int i = 0; i < c.length; i++) {
            c[i] = tokenConfidence(logprobs.get(i));
        }
        return c;
    }

    /** Means over every window of {@code window} tokens (stride 1); one value for a shorter trace; empty for none. */
    public static double[] groupConfidences(double[] conf, int window) {
        if (window < 1) {
            throw new IllegalArgumentException("window must be >= 1, got " + window);
        }
        int n = conf.length;
        if (n == 0) {
            return new double[0];
        }
        if (n < window) {
            return new double[] {mean(conf, 0, n)};
        }
        double[] g = new double[n - window + 1];
        // each window summed afresh in blocks would cost n*W; a running sum drifts, so re-anchor it every window
        double sum = 0;
        for (int i = 0; i < window; i++) {
            sum += conf[i];
        }
        g[0] = sum / window;
        for (int s = 1; s < g.length; s++) {
            if (s % window == 0) {
                sum = 0;
                for (int i = s; i < s + window; i++) {
                    sum += conf[i];
                }
            } else {
                sum += conf[s + window - 1] - conf[s - 1];
            }
            g[s] = sum / window;
        }
        return g;
    }

    /** The trace confidence under {@code m}; 0 for an empty trace. */
    public static double measure(double[] conf, Measure m, int window) {
        if (conf.length == 0) {
            return 0;
        }
        return switch (m) {
            case MEAN -> mean(conf, 0, conf.length);
            case TAIL -> mean(conf, Math.max(0, conf.length - window), conf.length);
            case LOWEST_GROUP -> Arrays.stream(groupConfidences(conf, window)).min().orElseThrow();
            case BOTTOM10 -> {
                double[] g = groupConfidences(conf, window).clone();
                Arrays.sort(g);
                int k = Math.max(1, (int) (g.length * 0.1));
                yield mean(g, 0, k);
            }
        };
    }

    private static double mean(double[] x, int from, int to) {
        double s = 0;
        for (int i = from; i < to; i++) {
            s += x[i];
        }
        return s / (to - from);
    }

    /** The {@code q}-th percentile (0..100) with linear interpolation between order statistics, as numpy's default. */
    public static double percentile(double[] xs, double q) {
        if (xs.length == 0) {
            throw new IllegalArgumentException("percentile of no values");
        }
        if (!(q >= 0 && q <= 100)) {
            throw new IllegalArgumentException("percentile must be in [0, 100], got " + q);
        }
        double[] s = xs.clone();
        Arrays.sort(s);
        double pos = q / 100 * (s.length - 1);
        int lo = (int) Math.floor(pos);
        int hi = Math.min(lo + 1, s.length - 1);
        return s[lo] + (pos - lo) * (s[hi] - s[lo]);
    }

    /**
     * A vote's outcome.
     *
     * @param answer    the winner (null when no trace had an answer)
     * @param votes     weight per answer, in order of first appearance
     * @param kept      traces that voted
     * @param threshold the confidence a trace needed (NaN when there was no filter)
     */
    public record Vote(String answer, Map<String, Double> votes, int kept, double threshold) {
        /** The winner's share of all the weight (0 when nobody voted). */
        public double share() {
            double total = votes.values().stream().mapToDouble(Double::doubleValue).sum();
            return answer == null || total <= 0 ? 0 : votes.get(answer) / total;
        }
    }

    /** One vote per trace with an answer. */
    public static Vote majority(List<String> answers) {
        double[] ones = new double[answers.size()];
        Arrays.fill(ones, 1);
        return weighted(answers, ones);
    }

    /**
     * Sum of weights per answer; traces without an answer do not vote; answers with the same numeric value are one
     * answer (shown as first written). Ties go to the answer that appeared first.
     */
    public static Vote weighted(List<String> answers, double[] weights) {
        return weighted(answers, weights, Double.NaN);
    }

    /** {@link #weighted(List, double[])}, reporting {@code threshold} as the bar the voters passed. */
    static Vote weighted(List<String> answers, double[] weights, double threshold) {
        if (answers.size() != weights.length) {
            throw new IllegalArgumentException(answers.size() + " answers but " + weights.length + " weights");
        }
        Map<String, String> shown = new LinkedHashMap<>();
        Map<String, Double> votes = new LinkedHashMap<>();
        int kept = 0;
        for (int i = 0; i < weights.length; i++) {
            String a = answers.get(i);
            if (a == null) {
                continue;
            }
            String name = shown.computeIfAbsent(key(a), k -> a);
            votes.merge(name, weights[i], Double::sum);
            kept++;
        }
        String best = null;
        for (var e : votes.entrySet()) {
            if (best == null || e.getValue() > votes.get(best)) {
                best = e.getKey();
            }
        }
        return new Vote(best, votes, kept, threshold);
    }

    private static String key(String answer) {
        BigDecimal v = Answers.value(answer);
        return v == null ? "t:" + answer : "n:" + v.stripTrailingZeros().toPlainString();
    }

    /**
     * DeepConf's offline vote: among the traces with an answer, keep those whose confidence is at least the
     * {@code (100 - eta)}th percentile of their confidences (eta = 10 keeps the top 10%, 90 the top 90%), then vote
     * weighted by that confidence.
     */
    public static Vote filtered(List<String> answers, double[] confidences, double eta) {
        if (!(eta > 0 && eta <= 100)) {
            throw new IllegalArgumentException("eta must be in (0, 100], got " + eta);
        }
        List<String> a = new ArrayList<>();
        List<Double> c = new ArrayList<>();
        for (int i = 0; i < confidences.length; i++) {
            if (answers.get(i) != null) {
                a.add(answers.get(i));
                c.add(confidences[i]);
            }
        }
        if (a.isEmpty()) {
            return new Vote(null, Map.of(), 0, Double.NaN);
        }
        double[] cs = c.stream().mapToDouble(Double::doubleValue).toArray();
        double threshold = percentile(cs, 100 - eta);
        List<String> keptAnswers = new ArrayList<>();
        for (int i = 0; i < cs.length; i++) {
            keptAnswers.add(cs[i] >= threshold ? a.get(i) : null);
        }
        return weighted(keptAnswers, cs, threshold);
    }
}
