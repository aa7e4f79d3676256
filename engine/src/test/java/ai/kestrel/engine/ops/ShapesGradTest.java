package ai.kestrel.engine.ops;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.kestrel.engine.GradCheck;
import ai.kestrel.engine.Rand;
import ai.kestrel.engine.Scope;
import ai.kestrel.engine.Tensor;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class ShapesGradTest {
    @Test
    void narrowSplitConcat() {
        try (Scope s = Scope.open()) {
            SplittableRandom rnd = new SplittableRandom(10);
            Tensor x = Rand.normal64(rnd, 1, 2, 3, 9).requiresGrad(true);
            GradCheck.of("narrow last").run(in -> Shapes.narrow(in[0], -1, 2, 5), x);
            GradCheck.of("narrow middle").run(in -> Shapes.narrow(in[0], 1, 1, 2), x);
            // split into z | x | dt and join in another order: every element's gradient routes through
            GradCheck.of("split+concat").run(in -> {
                Tensor[] p = Shapes.split(in[0], -1, 4, 3, 2);
                return Shapes.concat(-1, p[2], p[0], Arith.scale(p[1], 3));
            }, x);
            Tensor y = Rand.normal64(rnd, 1, 2, 1, 9).requiresGrad(true);
            GradCheck.of("concat dim 1").run(in -> Shapes.concat(1, in[0], in[1]), x, y);
        }
    }

    @Test
    void knownValues() {
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.of(new float[] {0, 1, 2, 3, 4, 5}, 2, 3);
            Tensor[] p = Shapes.split(x, 1, 1, 2);
            assertArrayEquals(new float[] {0, 3}, p[0].toFloatArray());
            assertArrayEquals(new float[] {1, 2, 4, 5}, p[1].toFloatArray());
            Tensor c = Shapes.concat(0, x, x);
            assertEquals(4, c.size(0));
            assertArrayEquals(new float[] {0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5}, c.toFloatArray());
        }
    }
}
