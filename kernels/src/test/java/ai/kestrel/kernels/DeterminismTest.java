package ai.kestrel.kernels;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.kestrel.kernels.optim.AdamW;
import ai.kestrel.kernels.scan.SelectiveScan;
import ai.kestrel.kernels.ssd.SsdScan;
import java.lang.foreign.Arena;
import java.util.SplittableRandom;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;

/**
 * Kernels that sum across parallel tasks (over channels, heads, batches or chunks of a buffer) must give
 * bit-identical results whatever the thread count and timing, and whatever the JIT has compiled so far:
 * each computation's first (cold, interpreted) call must equal its calls after 300 warm-up runs, when C2
 * has compiled the kernels. (The Vector API's own {@code reduceLanes(ADD)} and {@code EXP} would fail this:
 * their interpreted fallbacks round differently from the intrinsics; the kernels use {@code Vec.sum} and
 * {@code Vec.exp}, which do not.)
 */
class DeterminismTest {
    private static <T> void warm(Supplier<T> body) {
        for (int i = 0; i < 300; i++) {
            body.get();
        }
    }

    private static <T> T withThreads(int n, Supplier<T> body) {
        int before = Parallel.threads();
        Parallel.setThreads(n);
        try {
            return body.get();
        } finally {
            Parallel.setThreads(before);
        }
    }

    @Test
    void crossTaskSumsDoNotDependOnThreads() {
        try (Arena arena = Arena.ofShared()) {
            SplittableRandom rnd = new SplittableRandom(5);
            int b = 2, t = 9, din = 40, n = 16;
            Buf x = Twin.randn(arena, rnd, b * t * din), dt = Twin.randn(arena, rnd, b * t * din);
            Buf a = Buf.ofF32(arena, Twin.uniform(rnd, din * n, -1, -0.1)), bm = Twin.randn(arena, rnd, b * t * n);
            Buf cm = Twin.randn(arena, rnd, b * t * n), dy = Twin.randn(arena, rnd, b * t * din);
            Supplier<float[]> scan = () -> {
                Buf dA = Buf.allocF32(arena, (long) din * n), dB = Buf.allocF32(arena, (long) b * t * n), dD = Buf.allocF32(arena, din);
                SelectiveScan.CPU.backward(dy, x, dt, null, a, bm, cm, null, null, null, null, null, dA, dB, null, dD, null, b, t, din, n);
                float[] out = new float[din * n + b * t * n + din];
                System.arraycopy(dA.toFloatArray(), 0, out, 0, din * n);
                System.arraycopy(dB.toFloatArray(), 0, out, din * n, b * t * n);
                System.arraycopy(dD.toFloatArray(), 0, out, din * n + b * t * n, din);
                return out;
            };
            float[] one = withThreads(1, scan);
            warm(scan);
            assertArrayEquals(one, withThreads(1, scan));
            assertArrayEquals(one, withThreads(2, scan));
            assertArrayEquals(one, withThreads(3, scan));

            SsdScan.Dims m = new SsdScan.Dims(2, 20, 4, 8, 2, 8, 8);
            Buf sx = Twin.randn(arena, rnd, 2 * 20 * 4 * 8), sdt = Twin.randn(arena, rnd, 2 * 20 * 4), sa = Buf.ofF32(arena, -0.5f, -0.2f, -1f, -0.7f);
            Buf sb = Twin.randn(arena, rnd, 2 * 20 * 2 * 8), sc = Twin.randn(arena, rnd, 2 * 20 * 2 * 8), sdy = Twin.randn(arena, rnd, 2 * 20 * 4 * 8);
            Supplier<float[]> ssd = () -> {
                Buf dA = Buf.allocF32(arena, 4), dB = Buf.allocF32(arena, 2 * 20 * 2 * 8);
                SsdScan.CPU.backward(sdy, sx, sdt, null, sa, sb, sc, null, null, null, null, null, dA, dB, null, null, null, m);
                float[] out = new float[4 + 640];
                System.arraycopy(dA.toFloatArray(), 0, out, 0, 4);
                System.arraycopy(dB.toFloatArray(), 0, out, 4, 640);
                return out;
            };
            float[] s1 = withThreads(1, ssd);
            warm(ssd);
            assertArrayEquals(s1, withThreads(1, ssd));
            assertArrayEquals(s1, withThreads(2, ssd));
            assertArrayEquals(s1, withThreads(3, ssd));

            Buf g = Twin.randn(arena, rnd, 300_001);
            double n1 = withThreads(1, () -> AdamW.CPU.sumSquares(g, 300_001));
            warm(() -> AdamW.CPU.sumSquares(g, 300_001));
            assertEquals(n1, withThreads(1, () -> AdamW.CPU.sumSquares(g, 300_001)), 0.0);
            assertEquals(n1, withThreads(2, () -> AdamW.CPU.sumSquares(g, 300_001)), 0.0);
            assertEquals(n1, withThreads(3, () -> AdamW.CPU.sumSquares(g, 300_001)), 0.0);
        }
    }
}
