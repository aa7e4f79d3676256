package ai.kestrel.model.generate;

import java.util.ArrayList;
import java.util.List;

/**
 * Spots a generation stuck in a loop ("Three\nThree\nThree..."): the most recent tokens are one block of
 * 1 to {@code maxPeriod} tokens repeated at least {@code minRepeats} times back to back, covering at least
 * {@code minSpan} tokens (so "1, 2, 3" or a run of spaces does not trip it).
 */
public final class RepetitionDetector {
    private final int maxPeriod;
    private final int minRepeats;
    private final int minSpan;
    private final List<Integer> ids = new ArrayList<>();
    private int loopPeriod;

    public RepetitionDetector(int maxPeriod, int minRepeats, int minSpan) {
        this.maxPeriod = maxPeriod;
        this.minRepeats = minRepeats;
        this.minSpan = minSpan;
    }

    /** Defaults that catch short-phrase loops: periods up to 32 tokens, 4 repeats, 16 tokens at least. */
    public static RepetitionDetector standard() {
        return new RepetitionDetector(32, 4, 16);
    }

    /** Adds a token; returns true when the tail is now a loop. */
    public boolean add(int id) {
        ids.add(id);
        int n = ids.size();
        for (int period = 1; period <= maxPeriod; period++) {
            int repeats = Math.max(minRepeats, (minSpan + period - 1) / period);
            int span = period * repeats;
            if (span > n) {
                continue;
            }
            boolean loop = true;
            for (int i = n - span; i < n - period && loop; i++) {
                loop = ids.get(i).equals(ids.get(i + period));
            }
            if (loop) {
                loopPeriod = period;
                return true;
            }
        }
        return false;
    }

    /** The period of the last loop found, or 0. */
    public int period() {
        return loopPeriod;
    }
}
