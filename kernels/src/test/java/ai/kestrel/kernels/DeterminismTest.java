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

    /**
     * The first call in this JVM may already run compiled code (other tests warm the kernels up), so the cold side
     * is a child JVM that never compiles ({@code -Xint}: every Vector API operation runs its Java fallback, lane by
     * lane), against the same computations here after warm-up. With {@code reduceLanes(ADD)} back in attention's dot
     * product, 9,102 of the 13,390 values differed. (Not every such change shows: the same one in the Mamba-1 scan's
     * backward gave the same bits interpreted and compiled, even with {@code -Xcomp}.)
     */
    @Test
    void anInterpretedJvmComputesTheSameBits() throws Exception {
        java.util.function.Supplier<float[]> probe = () -> withThreads(1, DeterminismProbe::results);
        warm(probe);
        float[] warmBits = probe.get();
        String javaBin = ProcessHandle.current().info().command().orElse("java");
        java.util.List<String> cmd = new java.util.ArrayList<>(java.util.List.of(javaBin, "-Xint", "--add-modules", "jdk.incubator.vector",
                "-Dkestrel.vector.bits=" + Vec.F.vectorBitSize(), "-cp", childClassPath(), DeterminismProbe.class.getName()));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(false).start();
        p.getOutputStream().close();
        java.util.concurrent.CompletableFuture<String> err = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
            try {
                return new String(p.getErrorStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
            } catch (java.io.IOException e) {
                return e.toString();
            }
        });
        String out = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
        org.junit.jupiter.api.Assertions.assertTrue(p.waitFor(5, java.util.concurrent.TimeUnit.MINUTES), "the -Xint probe did not finish");
        assertEquals(0, p.exitValue(), "the -Xint probe failed: " + err.get());
        String[] lines = out.strip().split("\n");
        assertEquals(warmBits.length, lines.length, "values printed by the -Xint probe");
        int differ = 0;
        int first = -1;
        for (int i = 0; i < lines.length; i++) {
            if (Integer.parseUnsignedInt(lines[i].strip(), 16) != Float.floatToRawIntBits(warmBits[i])) {
                differ++;
                first = first < 0 ? i : first;
            }
        }
        assertEquals(0, differ, differ + " of " + lines.length + " values differ between an interpreted JVM and this warm one (first at "
                + first + ")");
    }

    /**
     * The classes of this module and its tests, and everything on this JVM's class and module paths, as one class
     * path (Surefire runs the module's tests on the module path, with the test classes patched in).
     */
    private static String childClassPath() throws java.net.URISyntaxException {
        java.util.LinkedHashSet<String> parts = new java.util.LinkedHashSet<>();
        for (Class<?> c : new Class<?>[] {DeterminismProbe.class, Parallel.class, Test.class}) {
            parts.add(java.nio.file.Path.of(c.getProtectionDomain().getCodeSource().getLocation().toURI()).toString());
        }
        for (String key : new String[] {"jdk.module.path", "java.class.path"}) {
            String v = System.getProperty(key);
            if (v != null && !v.isBlank()) {
                parts.addAll(java.util.List.of(v.split(java.io.File.pathSeparator)));
            }
        }
        return String.join(java.io.File.pathSeparator, parts);
    }
}
