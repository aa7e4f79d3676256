package ai.kestrel.kernels;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.function.Supplier;
import org.junit.jupiter.api.Test;

/**
 * Kernels that sum across parallel tasks (over channels, heads, batches or chunks of a buffer) must give
 * bit-identical results whatever the thread count and timing, and whatever the JIT has compiled so far: a
 * computation's first call must equal its calls after 300 warm-up runs, with 1, 2 and 3 threads, and a JVM that
 * only interprets must compute the same bits as this warm one ({@link #anInterpretedJvmComputesTheSameBits}: the
 * first call here may already run compiled code). (The Vector API's own {@code reduceLanes(ADD)} and {@code EXP}
 * would fail this: their interpreted fallbacks round differently from the intrinsics; the kernels use
 * {@code Vec.sum} and {@code Vec.exp}, which do not.)
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
        float[] one = withThreads(1, DeterminismProbe::results);
        warm(DeterminismProbe::results);
        assertSameBits(one, withThreads(1, DeterminismProbe::results), "1 thread after warm-up");
        assertSameBits(one, withThreads(2, DeterminismProbe::results), "2 threads");
        assertSameBits(one, withThreads(3, DeterminismProbe::results), "3 threads");
    }

    private static void assertSameBits(float[] want, float[] got, String what) {
        assertEquals(want.length, got.length, what + ": values");
        for (int i = 0; i < want.length; i++) {
            assertEquals(Float.floatToRawIntBits(want[i]), Float.floatToRawIntBits(got[i]), what + ": value " + i);
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
