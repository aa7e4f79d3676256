package ai.kestrel.train.eval;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.kestrel.train.eval.DeepConf.Measure;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class DeepConfTest {
    private static final double EPS = 1e-12;

    @Test
    void tokenConfidenceIsMinusTheMeanTopKLogprob() {
        assertEquals(1.0, DeepConf.tokenConfidence(new float[] {-0.5f, -1.5f}), EPS);
        assertEquals(0.0, DeepConf.tokenConfidence(new float[] {0f}), EPS);
        assertArrayEquals(new double[] {1.0, 2.0}, DeepConf.tokenConfidences(List.of(new float[] {-1f}, new float[] {-1f, -3f})), EPS);
        assertThrows(IllegalArgumentException.class, () -> DeepConf.tokenConfidence(new float[0]));
    }

    @Test
    void groupConfidencesSlideByOneToken() {
        assertArrayEquals(new double[] {1.5, 2.5, 3.5, 4.5}, DeepConf.groupConfidences(new double[] {1, 2, 3, 4, 5}, 2), EPS);
        assertArrayEquals(new double[] {3}, DeepConf.groupConfidences(new double[] {1, 2, 3, 4, 5}, 10), EPS);
        assertArrayEquals(new double[] {3}, DeepConf.groupConfidences(new double[] {1, 2, 3, 4, 5}, 5), EPS);
        assertEquals(0, DeepConf.groupConfidences(new double[0], 4).length);
    }

    @Test
    void runningWindowSumsEqualDirectMeansOnLongTraces() {
        SplittableRandom r = new SplittableRandom(7);
        double[] c = new double[5000];
        for (int i = 0; i < c.length; i++) {
            c[i] = r.nextDouble() * 10;
        }
        for (int w : new int[] {1, 3, 64, 2048}) {
            double[] g = DeepConf.groupConfidences(c, w);
            assertEquals(c.length - w + 1, g.length);
            for (int s = 0; s < g.length; s += 97) {
                double direct = Arrays.stream(c, s, s + w).sum() / w;
                assertEquals(direct, g[s], 1e-9, "window " + w + " at " + s);
            }
        }
    }

    @Test
    void everyMeasureOnAHandComputedTrace() {
        double[] c = {4, 1, 3, 2, 5, 6}; // windows of 2: 2.5 2 2.5 3.5 5.5
        assertEquals(3.5, DeepConf.measure(c, Measure.MEAN, 2), EPS);
        assertEquals(2.0, DeepConf.measure(c, Measure.LOWEST_GROUP, 2), EPS);
        assertEquals(2.0, DeepConf.measure(c, Measure.BOTTOM10, 2), EPS); // 10% of 5 windows: at least one
        assertEquals(5.5, DeepConf.measure(c, Measure.TAIL, 2), EPS);
        // shorter than the window: every measure is the plain mean
        for (Measure m : Measure.values()) {
            assertEquals(3.5, DeepConf.measure(c, m, 100), EPS, m.key());
            assertEquals(0.0, DeepConf.measure(new double[0], m, 100), EPS, m.key());
        }
        // 21 tokens 0..20, windows of 2: 0.5 .. 19.5 (20 windows); the bottom 10% are the two lowest
        double[] ramp = new double[21];
        for (int i = 0; i < ramp.length; i++) {
            ramp[i] = 20 - i;
        }
        assertEquals(1.0, DeepConf.measure(ramp, Measure.BOTTOM10, 2), EPS);
        assertEquals(0.5, DeepConf.measure(ramp, Measure.LOWEST_GROUP, 2), EPS);
        assertEquals(0.5, DeepConf.measure(ramp, Measure.TAIL, 2), EPS);
        assertEquals(Measure.BOTTOM10, Measure.parse("bottom10"));
        assertEquals(Measure.LOWEST_GROUP, Measure.parse("lowest-group"));
        assertThrows(IllegalArgumentException.class, () -> Measure.parse("median"));
    }

    @Test
    void percentileInterpolatesLikeNumpy() {
        assertEquals(3.7, DeepConf.percentile(new double[] {4, 1, 3, 2}, 90), 1e-12);
        assertEquals(1.3, DeepConf.percentile(new double[] {4, 1, 3, 2}, 10), 1e-12);
        assertEquals(3.0, DeepConf.percentile(new double[] {5, 1, 3}, 50), EPS);
        assertEquals(5.0, DeepConf.percentile(new double[] {5, 1, 3}, 100), EPS);
        assertEquals(7.0, DeepConf.percentile(new double[] {7}, 10), EPS);
        assertThrows(IllegalArgumentException.class, () -> DeepConf.percentile(new double[0], 50));
    }

    @Test
    void filteringByConfidenceCanOverturnTheMajority() {
        List<String> answers = Arrays.asList("7", "7", "8", "8", "8", null);
        double[] conf = {0.9, 0.8, 0.1, 0.2, 0.3, 5.0};
        DeepConf.Vote majority = DeepConf.majority(answers);
        assertEquals("8", majority.answer());
        assertEquals(3.0, majority.votes().get("8"), EPS);
        assertEquals(5, majority.kept());
        // eta 50: the median of the five answered traces' confidences (0.3) is the bar; 7 wins 1.7 to 0.3
        DeepConf.Vote top = DeepConf.filtered(answers, conf, 50);
        assertEquals("7", top.answer());
        assertEquals(0.3, top.threshold(), EPS);
        assertEquals(3, top.kept());
        assertEquals(1.7, top.votes().get("7"), 1e-12);
        assertEquals(0.3, top.votes().get("8"), 1e-12);
        // eta 90 keeps the top 90%: the bar is the 10th percentile 0.14
        DeepConf.Vote wide = DeepConf.filtered(answers, conf, 90);
        assertEquals(0.14, wide.threshold(), 1e-12);
        assertEquals(4, wide.kept());
        assertEquals("7", wide.answer()); // 1.7 against 0.5
        assertEquals(1.7 / 2.2, wide.share(), 1e-12);
    }

    @Test
    void equalNumbersVoteTogetherAndNobodyVotesWithoutAnAnswer() {
        DeepConf.Vote v = DeepConf.weighted(Arrays.asList("0.5", "1/2", "3", null), new double[] {1, 1, 1.5, 9});
        assertEquals("0.5", v.answer());
        assertEquals(2.0, v.votes().get("0.5"), EPS);
        assertEquals(3, v.kept());
        DeepConf.Vote none = DeepConf.filtered(Arrays.asList(null, null), new double[] {1, 2}, 10);
        assertNull(none.answer());
        assertEquals(0, none.kept());
    }

    @Test
    void onlineModeStopsLowConfidenceTracesAndSamplingAtConsensus() {
        OnlineDeepConf on = new OnlineDeepConf(4, 50, 2, 0.95, 20);
        assertEquals(4, on.startable());
        OnlineDeepConf.Monitor[] warm = new OnlineDeepConf.Monitor[4];
        for (int i = 0; i < 4; i++) {
            warm[i] = on.start();
        }
        assertEquals(0, on.startable(), "nothing starts after the warm-up before it has ended");
        assertThrows(IllegalStateException.class, on::start);
        for (int i = 0; i < 10; i++) {
            assertFalse(warm[0].add(0.0), "warm-up traces are never stopped");
        }
        on.finish("7", new double[] {3, 3, 3}, false);
        on.finish("8", new double[] {1, 1, 1}, false);
        on.finish("7", new double[] {2, 2}, false);
        on.finish("8", new double[] {5, 5}, false);
        // lowest groups 3, 1, 2, 5: the median 2.5 is the bar; 7 (3) and 8 (5) vote
        assertEquals(2.5, on.threshold(), EPS);
        assertEquals(5.0 / 8, on.vote().share(), EPS);
        assertEquals("8", on.vote().answer());
        assertEquals(16, on.startable());

        OnlineDeepConf.Monitor m = on.start();
        assertFalse(m.add(3));
        assertFalse(m.add(2), "a window mean equal to the bar goes on");
        assertTrue(m.add(2), "a window mean below the bar stops the trace");
        on.finish("8", new double[] {3, 2, 2}, true);
        assertEquals(1, on.stoppedEarly());
        assertEquals("8", on.vote().answer(), "an early-stopped trace does not vote");

        double[][] later = {{6, 6, 6}, {9, 9}, {20, 20}, {50, 50}};
        for (double[] t : later) {
            OnlineDeepConf.Monitor mm = on.start();
            for (double c : t) {
                assertFalse(mm.add(c));
            }
            on.finish("7", t, false);
            assertTrue(on.wantsMore(), "share " + on.vote().share());
        }
        assertEquals(88.0 / 93, on.vote().share(), 1e-12);
        on.start();
        on.finish("7", new double[] {100, 100}, false);
        assertEquals(188.0 / 193, on.vote().share(), 1e-12);
        assertFalse(on.wantsMore(), "consensus reached");
        assertEquals(0, on.startable());
        assertEquals(10, on.started());
        assertEquals("7", on.vote().answer());
    }

    @Test
    void onlineModeEndsWithTheBudget() {
        OnlineDeepConf on = new OnlineDeepConf(2, 90, 4, 0.95, 3);
        for (int i = 0; i < 2; i++) {
            on.start();
        }
        on.finish("1", new double[] {1, 2, 3}, false);
        on.finish("2", new double[] {1, 2, 3}, false);
        assertTrue(on.wantsMore());
        on.start();
        assertFalse(on.wantsMore());
        assertThrows(IllegalStateException.class, on::start);
        assertThrows(IllegalArgumentException.class, () -> new OnlineDeepConf(5, 10, 4, 0.95, 3));
    }
}
