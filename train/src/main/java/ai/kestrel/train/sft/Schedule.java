package ai.kestrel.train.sft;

/**
 * Learning-rate schedules as multipliers of the peak rate, following Hugging Face transformers'
 * {@code optimization.py} exactly, including its convention that the first optimizer step uses step 0 of the
 * schedule (so with warmup the first update has learning rate 0).
 */
public sealed interface Schedule {
    /** The multiplier at optimizer step {@code step} (0-based). */
    double factor(long step);

    /** {@code get_constant_schedule_with_warmup}: linear warmup, then 1. */
    record Constant(long warmup) implements Schedule {
        @Override
        public double factor(long step) {
            return step < warmup ? (double) step / Math.max(1, warmup) : 1.0;
        }
    }

    /** {@code get_linear_schedule_with_warmup}: linear warmup, then linear decay to 0 at {@code total}. */
    record Linear(long warmup, long total) implements Schedule {
        @Override
        public double factor(long step) {
            if (step < warmup) {
                return (double) step / Math.max(1, warmup);
            }
            return Math.max(0.0, (double) (total - step) / Math.max(1, total - warmup));
        }
    }

    /**
     * {@code get_cosine_schedule_with_warmup}: linear warmup, then {@code 0.5 * (1 + cos(pi * cycles * 2 * p))}
     * over the remaining steps ({@code cycles = 0.5}: one half-cosine down to 0).
     */
    record Cosine(long warmup, long total, double cycles) implements Schedule {
        public Cosine(long warmup, long total) {
            this(warmup, total, 0.5);
        }

        @Override
        public double factor(long step) {
            if (step < warmup) {
                return (double) step / Math.max(1, warmup);
            }
            double p = (double) (step - warmup) / Math.max(1, total - warmup);
            return Math.max(0.0, 0.5 * (1.0 + Math.cos(Math.PI * cycles * 2.0 * p)));
        }
    }

    /**
     * {@code get_wsd_schedule} (warmup-stable-decay) with linear warmup and cosine decay: warmup from
     * {@code minRatio}, a plateau at 1, a decay of {@code decay} steps to {@code minRatio}, which then stays.
     */
    record WarmupStableDecay(long warmup, long stable, long decay, double minRatio, double cycles) implements Schedule {
        /** The plateau fills what warmup and decay leave of {@code total} steps, as transformers computes it. */
        public static WarmupStableDecay of(long warmup, long decay, long total) {
            if (warmup + decay > total) {
                throw new IllegalArgumentException("warmup (" + warmup + ") + decay (" + decay + ") exceed the " + total + " steps");
            }
            return new WarmupStableDecay(warmup, total - warmup - decay, decay, 0.0, 0.5);
        }

        @Override
        public double factor(long step) {
            if (step < warmup) {
                double f = (double) step / Math.max(1, warmup);
                return Math.max(0.0, f * (1.0 - minRatio) + minRatio);
            }
            if (step < warmup + stable) {
                return 1.0;
            }
            if (step < warmup + stable + decay) {
                double p = (double) (step - warmup - stable) / Math.max(1, decay);
                double f = 0.5 * (1.0 + Math.cos(Math.PI * cycles * 2.0 * p));
                return Math.max(0.0, f * (1.0 - minRatio) + minRatio);
            }
            return minRatio;
        }
    }

    /** Warmup steps for a ratio of the total, as transformers' {@code get_warmup_steps}: {@code ceil(total * ratio)}. */
    static long warmupSteps(long total, double ratio) {
        if (ratio < 0 || ratio > 1) {
            throw new IllegalArgumentException("warmup ratio must be in [0, 1], got " + ratio);
        }
        return (long) Math.ceil(total * ratio);
    }
}
