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
        // a freed tensor cannot be read: the arena is closed
        assertThrows(IllegalStateException.class, () -> t.getDouble(0));
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
}
