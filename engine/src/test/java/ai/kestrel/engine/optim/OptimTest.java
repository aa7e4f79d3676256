package ai.kestrel.engine.optim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import ai.kestrel.engine.Autograd;
import ai.kestrel.engine.Scope;
import ai.kestrel.engine.Tensor;
import ai.kestrel.engine.ops.Arith;
import java.util.List;
import org.junit.jupiter.api.Test;

class OptimTest {
    @Test
    void adamwMinimisesAQuadratic() {
        try (Scope params = Scope.detached("params")) {
            Tensor p;
            try (var in = params.enter()) {
                p = Tensor.of(new float[] {3, -2}, 2).requiresGrad(true);
            }
            try (AdamW opt = new AdamW(List.of(p), 0.1, 0.9, 0.999, 1e-8, 0.0)) {
                for (int i = 0; i < 300; i++) {
                    try (Scope step = Scope.open()) {
                        p.zeroGrad();
                        Autograd.backward(Arith.sum(Arith.mul(p, p)));
                        opt.update();
                    }
                }
                assertEquals(300, opt.stepCount());
                assertEquals(0, p.getDouble(0), 0.05);
                assertEquals(0, p.getDouble(1), 0.05);
            }
        }
    }

    @Test
    void clipScalesOnlyAboveTheLimit() {
        try (Scope s = Scope.open()) {
            Tensor a = Tensor.of(new float[] {3}, 1).requiresGrad(true);
            Tensor b = Tensor.of(new float[] {4}, 1).requiresGrad(true);
            Autograd.backward(Arith.add(Arith.sum(a), Arith.sum(b)));
            a.grad().setDouble(0, 3);
            b.grad().setDouble(0, 4);
            assertEquals(5.0, GradClip.clipGlobalNorm(List.of(a, b), 10), 1e-6);
            assertEquals(3.0, a.grad().getDouble(0), 1e-6);
            assertEquals(5.0, GradClip.clipGlobalNorm(List.of(a, b), 1), 1e-6);
            assertEquals(3.0 / (5 + 1e-6), a.grad().getDouble(0), 1e-6);
            assertEquals(4.0 / (5 + 1e-6), b.grad().getDouble(0), 1e-6);
        }
    }

    @Test
    void rejectsNonParameters() {
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.of(new float[] {1}, 1);
            assertThrows(IllegalArgumentException.class, () -> new AdamW(List.of(x), 1e-3, 0.9, 0.999, 1e-8, 0));
        }
    }
}
