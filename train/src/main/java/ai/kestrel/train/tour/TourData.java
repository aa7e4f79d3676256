package ai.kestrel.train.tour;

import ai.kestrel.kernels.Buf;
import java.lang.foreign.Arena;
import java.util.SplittableRandom;

/** Seeded random buffers for the tour. */
public final class TourData {
    private TourData() {
    }

    /** {@code n} float32 values, N(0,1), seeded. */
    public static Buf randn(Arena arena, int n, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) (Math.sqrt(-2 * Math.log(1 - rnd.nextDouble())) * Math.cos(2 * Math.PI * rnd.nextDouble()));
        }
        return Buf.ofF32(arena, v);
    }
}
