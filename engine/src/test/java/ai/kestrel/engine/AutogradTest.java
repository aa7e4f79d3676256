package ai.kestrel.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.kestrel.engine.ops.Arith;
import org.junit.jupiter.api.Test;

class AutogradTest {
    @Test
    void gradientsAccumulateOverUsesAndCalls() {
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.ofDoubles(new double[] {1, 2, 3}, 3).requiresGrad(true);
            // y = sum(x * x + x): dy/dx = 2x + 1; x is used three times in the graph
            Tensor y = Arith.sum(Arith.add(Arith.mul(x, x), x));
            Autograd.backward(y);
            assertArrayEquals(new double[] {3, 5, 7}, x.grad().toDoubleArray(), 1e-12);
            // a second backward adds to the same gradient
            Autograd.backward(Arith.sum(Arith.scale(x, 2)));
            assertArrayEquals(new double[] {5, 7, 9}, x.grad().toDoubleArray(), 1e-12);
            x.zeroGrad();
            assertArrayEquals(new double[] {0, 0, 0}, x.grad().toDoubleArray(), 0);
        }
    }

    @Test
    void noGradRecordsNothing() {
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.of(new float[] {1, 2}, 2).requiresGrad(true);
            Tensor y;
            try (var ng = Autograd.noGrad()) {
                y = Arith.scale(x, 3);
            }
            assertFalse(y.requiresGrad());
            assertNull(y.gradFnName());
            assertThrows(IllegalStateException.class, () -> Autograd.backward(Arith.sum(y)));
            Tensor z = Arith.scale(x, 3);
            assertTrue(z.requiresGrad());
            assertEquals("scale", z.gradFnName());
        }
    }

    @Test
    void frozenInputsGetNoGradient() {
        try (Scope s = Scope.open()) {
            Tensor w = Tensor.of(new float[] {1, 2}, 2);
            Tensor x = Tensor.of(new float[] {3, 4}, 2).requiresGrad(true);
            Autograd.backward(Arith.sum(Arith.mul(w, x)));
            assertNull(w.grad());
            assertArrayEquals(new float[] {1, 2}, x.grad().toFloatArray());
        }
    }

    @Test
    void leafGradientLivesInTheLeafsScope() {
        try (Scope params = Scope.detached("params")) {
            Tensor p;
            try (var in = params.enter()) {
                p = Tensor.of(new float[] {1, 2, 3}, 3).requiresGrad(true);
            }
            for (int step = 0; step < 3; step++) {
                try (Scope s = Scope.open()) {
                    Autograd.backward(Arith.sum(Arith.scale(p, 2)));
                }
            }
            // the step scopes are gone, the gradient (allocated in `params`) survives and accumulated 3 times
            assertArrayEquals(new float[] {6, 6, 6}, p.grad().toFloatArray());
            assertEquals(params, p.grad().scope());
        }
    }

    @Test
    void viewPassesGradientBackReshaped() {
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.ofDoubles(new double[] {1, 2, 3, 4, 5, 6}, 2, 3).requiresGrad(true);
            Tensor v = x.view(3, -1);
            assertArrayEquals(new long[] {3, 2}, v.shape());
            Tensor w = Tensor.ofDoubles(new double[] {1, 10}, 2);
            Autograd.backward(Arith.sum(Arith.mul(v, w)));
            assertArrayEquals(new double[] {1, 10, 1, 10, 1, 10}, x.grad().toDoubleArray(), 0);
            assertArrayEquals(new long[] {2, 3}, x.grad().shape());
        }
    }
}
