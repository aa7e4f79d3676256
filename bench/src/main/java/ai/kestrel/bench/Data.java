package ai.kestrel.bench;

import ai.kestrel.kernels.Buf;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;

/** Seeded benchmark inputs. */
final class Data {
    private Data() {
    }

    static Buf randn(Arena arena, long n, long seed, double scale) {
        SplittableRandom rnd = new SplittableRandom(seed);
        Buf b = Buf.allocF32(arena, n);
        for (long i = 0; i < n; i++) {
            b.set(i, scale * (Math.sqrt(-2 * Math.log(1 - rnd.nextDouble())) * Math.cos(2 * Math.PI * rnd.nextDouble())));
        }
        return b;
    }

    static Buf uniform(Arena arena, long n, long seed, double lo, double hi) {
        SplittableRandom rnd = new SplittableRandom(seed);
        Buf b = Buf.allocF32(arena, n);
        for (long i = 0; i < n; i++) {
            b.set(i, lo + (hi - lo) * rnd.nextDouble());
        }
        return b;
    }

    static MemorySegment ids(Arena arena, int m, int v, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        MemorySegment s = arena.allocate(m * 4L, 4);
        for (int i = 0; i < m; i++) {
            s.setAtIndex(ValueLayout.JAVA_INT, i, rnd.nextInt(v));
        }
        return s;
    }
}
