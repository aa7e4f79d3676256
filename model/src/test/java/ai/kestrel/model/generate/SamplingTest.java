package ai.kestrel.model.generate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

class SamplingTest {
    @Test
    void greedyTakesTheLowestIdOnTies() {
        assertEquals(1, Sampler.greedy().next(new float[] {0, 3, 3, 1}, 4));
        assertEquals(0, Sampler.argmax(new float[] {5, 3, 5}, 3));
    }

    @Test
    void samplingFollowsTheDistributionAndTheSeed() {
        float[] logits = {(float) Math.log(0.6), (float) Math.log(0.3), (float) Math.log(0.1)};
        Sampler s = Sampler.sampling(1.0, 0, 1.0, 42);
        Map<Integer, Integer> counts = new HashMap<>();
        for (int i = 0; i < 20_000; i++) {
            counts.merge(s.next(logits, 3), 1, Integer::sum);
        }
        assertEquals(0.6, counts.get(0) / 20_000.0, 0.02);
        assertEquals(0.3, counts.get(1) / 20_000.0, 0.02);
        // same seed, same draws
        Sampler a = Sampler.sampling(0.8, 0, 1.0, 7);
        Sampler b = Sampler.sampling(0.8, 0, 1.0, 7);
        for (int i = 0; i < 100; i++) {
            assertEquals(a.next(logits, 3), b.next(logits, 3));
        }
    }

    /** The head-only sort picks exactly what sorting the whole vocabulary picks, draw for draw. */
    @Test
    void fastSamplingEqualsItsReferenceTwin() {
        java.util.SplittableRandom r = new java.util.SplittableRandom(2024);
        int[] sizes = {1, 2, 7, 33, 4097, 65536};
        for (int trial = 0; trial < 60; trial++) {
            int n = sizes[trial % sizes.length];
            float[] logits = new float[n];
            double scale = new double[] {0.1, 1, 3, 12}[r.nextInt(4)];
            for (int i = 0; i < n; i++) {
                logits[i] = (float) (r.nextGaussian() * scale);
            }
            if (n > 4 && trial % 3 == 0) {
                logits[3] = logits[1]; // ties break by id in both
                logits[r.nextInt(n)] = Float.NEGATIVE_INFINITY;
            }
            double t = new double[] {0.3, 0.8, 1.0, 1.7}[r.nextInt(4)];
            int k = new int[] {0, 0, 1, 5, 40, 100000}[r.nextInt(6)];
            double p = new double[] {1.0, 0.95, 0.5, 0.1}[r.nextInt(4)];
            long seed = r.nextLong();
            Sampler fast = Sampler.sampling(t, k, p, seed);
            Sampler ref = Sampler.sampling(t, k, p, seed);
            for (int d = 0; d < 25; d++) {
                int a = fast.next(logits, n);
                int b = ref.nextReference(logits, n);
                assertEquals(b, a, "trial " + trial + " n " + n + " scale " + scale + " t " + t + " k " + k + " p " + p + " draw " + d);
                assertTrue(a >= 0 && a < n);
            }
        }
    }

    @Test
    void topKAndTopPCutTheTail() {
        float[] logits = {(float) Math.log(0.5), (float) Math.log(0.3), (float) Math.log(0.2)};
        Sampler k1 = Sampler.sampling(1.0, 1, 1.0, 1);
        Sampler p = Sampler.sampling(1.0, 0, 0.75, 1); // 0.5 + 0.3 reaches 0.75: the 0.2 token is out
        for (int i = 0; i < 2000; i++) {
            assertEquals(0, k1.next(logits, 3));
            assertTrue(p.next(logits, 3) != 2);
        }
    }

    @Test
    void repetitionDetectorCatchesLoopsButNotCounting() {
        RepetitionDetector d = RepetitionDetector.standard();
        boolean fired = false;
        int[] three = {101, 102}; // "Three" "\n"
        for (int i = 0; i < 20 && !fired; i++) {
            fired = d.add(three[i % 2]);
        }
        assertTrue(fired);
        assertEquals(2, d.period());
        RepetitionDetector counting = RepetitionDetector.standard();
        for (int i = 0; i < 200; i++) {
            assertFalse(counting.add(i % 97 + (i / 97) * 1000), "distinct tokens are not a loop");
        }
        RepetitionDetector shortRun = RepetitionDetector.standard();
        for (int i = 0; i < 10; i++) {
            assertFalse(shortRun.add(7), "fewer than 16 repeated tokens are not yet a loop");
        }
    }
}
