package ai.kestrel.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;
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
        // a freed tensor cannot be read: the arena is closed
        assertThrows(IllegalStateException.class, () -> t.getDouble(0));
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

    @Test
    void openScopesAreConfinedToTheirThreadAndKernelsStillSeeTheirMemory() throws Exception {
        assertTrue(Scope.CONFINED, "the build grants ai.kestrel.engine native access");
        Tensor t;
        try (Scope s = Scope.open()) {
            t = Tensor.of(new float[] {1, 2, 3, 4, 5, 6, 7, 8}, 8);
            float[] got = new float[1];
            assertEquals(8f, t.kernelSegment().getAtIndex(ai.kestrel.kernels.Buf.F32, 7));
            MemorySegment alias = t.kernelSegment();
            Thread reader = new Thread(() -> got[0] = alias.getAtIndex(ai.kestrel.kernels.Buf.F32, 6));
            reader.start();
            reader.join();
            assertEquals(7f, got[0], "an alias taken by the owner is readable by a worker");
            Throwable[] seen = new Throwable[2];
            Thread stranger = new Thread(() -> {
                try {
                    t.segment().getAtIndex(ai.kestrel.kernels.Buf.F32, 0);
                } catch (Throwable e) {
                    seen[0] = e;
                }
                try {
                    t.kernelSegment();
                } catch (Throwable e) {
                    seen[1] = e;
                }
            });
            stranger.start();
            stranger.join();
            assertTrue(seen[0] instanceof WrongThreadException, "confined: " + seen[0]);
            assertTrue(seen[1] instanceof WrongThreadException, "no alias for a stranger: " + seen[1]);
            assertTrue(seen[1].getMessage().contains("scope"), seen[1].getMessage());
        }
        IllegalStateException closed = assertThrows(IllegalStateException.class, t::kernelSegment);
        assertTrue(closed.getMessage().contains("closed"), closed.getMessage());
        assertThrows(IllegalStateException.class, () -> t.segment().get(java.lang.foreign.ValueLayout.JAVA_BYTE, 0));
        // detached scopes stay shared: any thread may use their tensors
        try (Scope w = Scope.detached("weights")) {
            Tensor d;
            try (var in = w.enter()) {
                d = Tensor.of(new float[] {3, 4}, 2);
            }
            float[] got = new float[1];
            Thread other = new Thread(() -> got[0] = d.segment().getAtIndex(ai.kestrel.kernels.Buf.F32, 1));
            other.start();
            other.join();
            assertEquals(4f, got[0]);
        }
    }
}
