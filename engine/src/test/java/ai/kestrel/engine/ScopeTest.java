package ai.kestrel.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class ScopeTest {
    @Test
    void closingFreesAndAccountsBytes() {
        long before = Scope.liveBytes();
        Tensor t;
        try (Scope s = Scope.open()) {
            t = Tensor.zeros(DType.F32, 1000);
            assertSame(s, Scope.current());
            assertEquals(before + 4000, Scope.liveBytes());
            assertEquals(4000, s.bytes());
        }
        assertEquals(before, Scope.liveBytes());
        // a freed tensor cannot be read: the arena is closed, and the error says which tensor and scope
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> t.getDouble(0));
        assertTrue(e.getMessage().contains("tensor [1000] F32 was used after its memory was freed"), e.getMessage());
        assertTrue(e.getMessage().contains("closed"), e.getMessage());
        assertThrows(IllegalStateException.class, () -> ai.kestrel.engine.ops.Arith.scale(t, 2));
    }

    /**
     * Large zeroed tensors are zeroed by all kernel threads in chunks: every byte of an odd size, over memory the
     * test suites poison, reads zero; and they are accounted and freed like the others.
     */
    @Test
    void largeZeroedTensorsAreZeroEverywhere() {
        long before = Scope.liveBytes();
        try (Scope s = Scope.open()) {
            for (int n : new int[] {131_072, 700_001, 2_000_003}) {
                Tensor t = Tensor.zeros(DType.F32, n);
                float[] v = t.toFloatArray();
                for (int i = 0; i < n; i++) {
                    assertEquals(0f, v[i], "element " + i + " of " + n);
                }
            }
            assertEquals(before + 4L * (131_072 + 700_001 + 2_000_003), Scope.liveBytes());
        }
        assertEquals(before, Scope.liveBytes());
    }

    /** Uninitialised tensors: poisoned with NaN in the test suites, accounted, freed and unreadable after close. */
    @Test
    void emptyTensorsArePoisonedAccountedAndFreed() {
        assertEquals("true", System.getProperty("kestrel.poison"), "the build runs tests with -Dkestrel.poison=true");
        long before = Scope.liveBytes();
        Tensor big;
        Tensor small;
        try (Scope s = Scope.open()) {
            big = Tensor.empty(DType.F32, 100_000); // above the size that goes to the C allocator
            small = Tensor.empty(DType.F32, 10);
            assertEquals(before + 400_040, Scope.liveBytes());
            assertEquals(0, big.segment().address() % 64, "64-byte aligned");
            for (float v : big.toFloatArray()) {
                assertTrue(Float.isNaN(v));
            }
            for (float v : small.toFloatArray()) {
                assertTrue(Float.isNaN(v));
            }
            Tensor kept;
            try (Scope inner = Scope.open()) {
                Tensor y = Tensor.of(new float[] {1, 2, 3}, 3);
                kept = y.copyTo(s);
            }
            assertEquals(2.0, kept.getDouble(1));
        }
        assertEquals(before, Scope.liveBytes());
        assertThrows(IllegalStateException.class, () -> big.getDouble(0));
        assertThrows(IllegalStateException.class, () -> small.getDouble(0));
    }

    /**
     * Tensors made outside any scope are freed once unreachable: 4 GB of them, 64 MB at a time, and the process's
     * resident memory grows by less than twice the test JVM's 1 GB limit on direct memory (which the global
     * scope's allocations count against: running short there makes the JVM collect). Before, one automatic arena
     * held every global allocation until the JVM exited: the loop's 4 GB stayed resident (the zeroed ones also
     * ran out of direct memory at the 16th). A view keeps its tensor's memory: the rows read back after the tensor
     * itself became unreachable and the collector ran.
     */
    @Test
    void globalTensorsAreFreedOnceUnreachable() throws Exception {
        assertSame(Scope.global(), Scope.current(), "no scope open in this test");
        long limit = Runtime.getRuntime().maxMemory(); // the default -XX:MaxDirectMemorySize
        int n = 16 << 20; // floats: 64 MB
        long rss0 = residentBytes();
        long peak = rss0;
        long made = 0;
        for (int i = 0; made < 4 * limit; i++, made += 4L * n) {
            Tensor t = (i % 2 == 0) ? Tensor.zeros(DType.F32, n) : Tensor.empty(DType.F32, n);
            t.segment().fill((byte) 1); // resident
            t.segment().setAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT, n - 1, i);
            assertEquals(i, t.getDouble(n - 1));
            peak = Math.max(peak, residentBytes());
        }
        assertTrue(peak - rss0 < 2 * limit, "resident memory grew by " + (peak - rss0 >> 20) + " MB making "
                + (made >> 20) + " MB of tensors that were dropped at once");
        Tensor whole = Tensor.zeros(DType.F32, 1024, 1024);
        whole.segment().setAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT, 1000L * 1024 + 5, 42f);
        Tensor view = whole.rows(1000, 10);
        whole = null;
        for (int i = 0; i < 3; i++) {
            System.gc();
            Thread.sleep(50);
            Tensor.zeros(DType.F32, n); // allocations to reuse freed memory, were the view's freed with it
        }
        assertEquals(42.0, view.getDouble(5));
        assertEquals(0.0, view.getDouble(6));
    }

    /**
     * Small tensors are carved from the scope's slabs: each 64-byte aligned, none overlapping another, the zeroed
     * ones zero although the slab's memory comes from the C allocator, which hands back what earlier scopes freed
     * (here: poisoned tensors of the same sizes), and all of them freed and unreadable after close.
     */
    @Test
    void smallTensorsAreCarvedAlignedDistinctAndZeroed() {
        long before = Scope.liveBytes();
        for (int round = 0; round < 3; round++) {
            Tensor[] ts = new Tensor[300];
            try (Scope s = Scope.open()) {
                long bytes = 0;
                for (int i = 0; i < ts.length; i++) {
                    int n = 1 + (i * 37 + round * 11) % 4000; // up to 16 KB: the slab sizes
                    ts[i] = (i + round) % 2 == 0 ? Tensor.zeros(DType.F32, n) : Tensor.empty(DType.F32, n);
                    bytes += 4L * n;
                    assertEquals(0, ts[i].segment().address() % 64, "tensor " + i + " aligned");
                    float[] v = ts[i].toFloatArray();
                    for (int j = 0; j < n; j++) {
                        if ((i + round) % 2 == 0) {
                            assertEquals(0f, v[j], "zeroed tensor " + i + " at " + j);
                        } else {
                            assertTrue(Float.isNaN(v[j]), "poisoned tensor " + i + " at " + j);
                        }
                    }
                    ts[i].segment().fill((byte) i); // then every tensor must still hold its own byte
                }
                assertEquals(before + bytes, Scope.liveBytes());
                for (int i = 0; i < ts.length; i++) {
                    assertAllBytes(ts[i].segment(), (byte) i, "tensor " + i);
                }
            }
            assertEquals(before, Scope.liveBytes());
            Tensor last = ts[ts.length - 1];
            assertThrows(IllegalStateException.class, () -> last.getDouble(0));
        }
    }

    private static void assertAllBytes(java.lang.foreign.MemorySegment seg, byte expected, String what) {
        for (long b = 0; b < seg.byteSize(); b++) {
            byte v = seg.get(java.lang.foreign.ValueLayout.JAVA_BYTE, b);
            if (v != expected) {
                throw new AssertionError(what + ": byte " + b + " is " + v + ", expected " + expected + " (another tensor overlaps it)");
            }
        }
    }

    /** This process's resident set (Linux). */
    private static long residentBytes() throws java.io.IOException {
        for (String line : java.nio.file.Files.readAllLines(java.nio.file.Path.of("/proc/self/status"))) {
            if (line.startsWith("VmRSS:")) {
                return Long.parseLong(line.replaceAll("[^0-9]", "")) << 10;
            }
        }
        throw new IllegalStateException("no VmRSS in /proc/self/status");
    }

    @Test
    void scopesNestAndMustCloseInOrder() {
        Scope outer = Scope.open();
        Scope inner = Scope.open();
        assertSame(inner, Scope.current());
        assertThrows(IllegalStateException.class, outer::close);
        inner.close();
        assertSame(outer, Scope.current());
        outer.close();
        assertSame(Scope.global(), Scope.current());
    }

    @Test
    void detachedScopeIsEnteredWithoutClosing() {
        try (Scope weights = Scope.detached("weights")) {
            Tensor w;
            try (var in = weights.enter()) {
                w = Tensor.zeros(DType.F32, 4);
                assertSame(weights, w.scope());
            }
            assertTrue(weights.isOpen());
            assertEquals(0.0, w.getDouble(3));
        }
    }

    @Test
    void globalScopeWhenNoneIsOpen() {
        Tensor t = Tensor.zeros(DType.F32, 2);
        assertSame(Scope.global(), t.scope());
        assertThrows(IllegalStateException.class, () -> Scope.global().close());
    }

    /**
     * The peak of live bytes: raised by allocations, kept after they are freed, started again from what is live by
     * resetPeak; every device answers through Device.peakBytes.
     */
    @Test
    void peakBytesIsTheHighestLiveSinceTheLastReset() {
        Scope.resetPeak();
        long base = Scope.liveBytes();
        assertEquals(base, Scope.peakBytes());
        try (Scope outer = Scope.open()) {
            Tensor.zeros(DType.F32, 50_000); // 200,000 bytes: from the C allocator
            try (Scope inner = Scope.open()) {
                Tensor.empty(DType.F32, 10); // carved from the scope's slab
                Tensor.zeros(DType.F32, 100_000);
                assertEquals(base + 600_040, Scope.peakBytes());
            }
            assertEquals(base + 200_000, Scope.liveBytes());
            assertEquals(base + 600_040, Scope.peakBytes(), "the peak outlives what made it");
            Device.CPU.resetPeak();
            assertEquals(base + 200_000, Device.CPU.peakBytes());
            Tensor.zeros(DType.F32, 1_000);
            assertEquals(base + 204_000, Scope.peakBytes());
        }
        assertEquals(base + 204_000, Scope.peakBytes());
    }
}
