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
