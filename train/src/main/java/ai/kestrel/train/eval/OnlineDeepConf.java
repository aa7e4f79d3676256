package ai.kestrel.train.eval;

import java.util.ArrayList;
import java.util.List;

/**
 * DeepConf's online mode for one question. The first {@code warmup} traces run to their end; the
 * {@code (100 - eta)}th percentile of their lowest group confidences becomes the threshold. Every later trace is
 * watched token by token ({@link Monitor}) and ended as soon as a full window's mean confidence falls below the
 * threshold. Traces whose lowest group confidence reaches the threshold vote, weighted by it; sampling stops when
 * the leading answer's share of that weight reaches {@code consensus} (after the warm-up) or when {@code budget}
 * traces have been started.
 */
public final class OnlineDeepConf {
    private final int warmup;
    private final double eta;
    private final int window;
    private final double consensus;
    private final int budget;
    private final List<String> answers = new ArrayList<>();
    private final List<Double> lowest = new ArrayList<>();
    private final List<Boolean> early = new ArrayList<>();
    private int started;
    private double threshold = Double.NaN;

    public OnlineDeepConf(int warmup, double eta, int window, double consensus, int budget) {
        if (warmup < 1 || budget < warmup) {
            throw new IllegalArgumentException("online DeepConf needs 1 <= warmup <= budget, got warmup " + warmup + ", budget " + budget);
        }
        if (!(eta > 0 && eta <= 100) || !(consensus > 0 && consensus <= 1) || window < 1) {
            throw new IllegalArgumentException("online DeepConf needs 0 < eta <= 100, 0 < consensus <= 1 and window >= 1");
        }
        this.warmup = warmup;
        this.eta = eta;
        this.window = window;
        this.consensus = consensus;
        this.budget = budget;
    }

    /** The paper's defaults: 16 warm-up traces, consensus 0.95. */
    public static OnlineDeepConf standard(double eta, int window, int budget) {
        return new OnlineDeepConf(Math.min(16, budget), eta, window, 0.95, budget);
    }

    /** Watches one trace as it is generated. */
    public final class Monitor {
        private final double[] ring = new double[window];
        private final double bar;
        private int n;
        private double sum;

        private Monitor(double bar) {
            this.bar = bar;
        }

        /** Adds a token's confidence; true when the trace must end here (its last full window is below the threshold). */
        public boolean add(double tokenConfidence) {
            int slot = n % window;
            if (n >= window) {
                sum -= ring[slot];
            }
            ring[slot] = tokenConfidence;
            sum += tokenConfidence;
            n++;
            if (n % window == 0) { // re-anchor the running sum
                sum = 0;
                for (double v : ring) {
                    sum += v;
                }
            }
            return !Double.isNaN(bar) && n >= window && sum / window < bar;
        }
    }

    /** Whether another trace should be started: budget left, no consensus yet. */
    public boolean wantsMore() {
        return started < budget && !consensus();
    }

    /** How many traces may start now: the rest of the warm-up while it runs (all must end before the threshold exists). */
    public int startable() {
        if (!wantsMore()) {
            return 0;
        }
        if (started < warmup) {
            return warmup - started;
        }
        return Double.isNaN(threshold) ? 0 : budget - started;
    }

    /** Starts a trace: a warm-up one is never stopped early. */
    public Monitor start() {
        if (started >= budget) {
            throw new IllegalStateException("the budget of " + budget + " traces is spent");
        }
        boolean isWarmup = started < warmup;
        if (!isWarmup && Double.isNaN(threshold)) {
            throw new IllegalStateException("a trace after the warm-up can only start once the warm-up traces have ended");
        }
        started++;
        return new Monitor(isWarmup ? Double.NaN : threshold);
    }

    /** Records a finished trace: its extracted answer, its token confidences, and whether it was ended early. */
    public void finish(String answer, double[] tokenConfidences, boolean stoppedEarly) {
        answers.add(answer);
        lowest.add(DeepConf.measure(tokenConfidences, DeepConf.Measure.LOWEST_GROUP, window));
        early.add(stoppedEarly);
        if (answers.size() == warmup) {
            double[] w = lowest.stream().mapToDouble(Double::doubleValue).toArray();
            threshold = DeepConf.percentile(w, 100 - eta);
        }
    }

    /** NaN until the warm-up has ended. */
    public double threshold() {
        return threshold;
    }

    public int started() {
        return started;
    }

    public int finished() {
        return answers.size();
    }

    /** Traces ended early by the confidence threshold. */
    public int stoppedEarly() {
        return (int) early.stream().filter(b -> b).count();
    }

    /** The confidence-weighted vote of the traces at or above the threshold (all finished ones during the warm-up). */
    public DeepConf.Vote vote() {
        List<String> a = new ArrayList<>();
        double[] w = new double[answers.size()];
        for (int i = 0; i < answers.size(); i++) {
            boolean keep = !early.get(i) && (Double.isNaN(threshold) || lowest.get(i) >= threshold);
            a.add(keep ? answers.get(i) : null);
            w[i] = lowest.get(i);
        }
        return DeepConf.weighted(a, w, threshold);
    }

    /** Whether the leading answer's weighted share has reached the consensus level (never during the warm-up). */
    public boolean consensus() {
        if (Double.isNaN(threshold)) {
            return false;
        }
        DeepConf.Vote v = vote();
        return v.answer() != null && v.share() >= consensus;
    }
}
