package ai.kestrel.train.sft;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

class ScheduleTest {
    @Test
    void cosineWithWarmupIsTransformers() {
        Schedule s = new Schedule.Cosine(10, 110);
        assertEquals(0.0, s.factor(0)); // the first optimizer step uses step 0: lr 0 during warmup's start
        assertEquals(0.5, s.factor(5), 1e-15);
        assertEquals(1.0, s.factor(10), 1e-15);
        assertEquals(0.5, s.factor(60), 1e-12); // half way through the decay: cos(pi/2)
        assertEquals(0.5 * (1 + Math.cos(Math.PI * 0.25)), s.factor(35), 1e-12);
        assertEquals(0.0, s.factor(110), 1e-15);
        // past the end transformers does not clamp the progress: the cosine rises again (4.9 half-turns)
        assertEquals(0.5 * (1 + Math.cos(Math.PI * 4.9)), s.factor(500), 1e-12);
    }

    @Test
    void linearAndConstant() {
        Schedule l = new Schedule.Linear(4, 14);
        assertEquals(0.25, l.factor(1), 1e-15);
        assertEquals(1.0, l.factor(4), 1e-15);
        assertEquals(0.5, l.factor(9), 1e-15);
        assertEquals(0.0, l.factor(20), 1e-15);
        Schedule c = new Schedule.Constant(3);
        assertEquals(2.0 / 3, c.factor(2), 1e-15);
        assertEquals(1.0, c.factor(3), 1e-15);
    }

    @Test
    void warmupStableDecay() {
        Schedule.WarmupStableDecay s = Schedule.WarmupStableDecay.of(10, 20, 100);
        assertEquals(70, s.stable());
        assertEquals(0.0, s.factor(0));
        assertEquals(0.3, s.factor(3), 1e-15);
        assertEquals(1.0, s.factor(10));
        assertEquals(1.0, s.factor(79));
        assertEquals(1.0, s.factor(80), 1e-15); // decay progress 0: cos(0)
        assertEquals(0.5, s.factor(90), 1e-12);
        assertEquals(0.0, s.factor(100), 1e-15);
        Schedule.WarmupStableDecay floor = new Schedule.WarmupStableDecay(0, 0, 10, 0.1, 0.5);
        assertEquals(0.1 + 0.9 * 0.5, floor.factor(5), 1e-12);
        assertEquals(0.1, floor.factor(50), 1e-15);
        assertThrows(IllegalArgumentException.class, () -> Schedule.WarmupStableDecay.of(60, 60, 100));
    }

    @Test
    void warmupRatioRoundsUp() {
        assertEquals(3, Schedule.warmupSteps(100, 0.03));
        assertEquals(4, Schedule.warmupSteps(101, 0.03));
        assertEquals(0, Schedule.warmupSteps(100, 0));
    }
}
