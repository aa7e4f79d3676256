package ai.kestrel.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class TensorTest {
    /** Shapes no tensor can have are refused with the shape in the message, before anything is allocated. */
    @Test
    void impossibleShapesAreRefusedNamingTheShape() {
        try (Scope s = Scope.open()) {
            IllegalArgumentException negative = assertThrows(IllegalArgumentException.class, () -> Tensor.zeros(DType.F32, 2, -3));
            assertTrue(negative.getMessage().contains("[2, -3]"), negative.getMessage());
            IllegalArgumentException huge = assertThrows(IllegalArgumentException.class,
                    () -> Tensor.zeros(DType.F32, 1L << 40, 1L << 40));
            assertTrue(huge.getMessage().contains("[1099511627776, 1099511627776] has more elements than a long can count"),
                    huge.getMessage());
            IllegalArgumentException data = assertThrows(IllegalArgumentException.class, () -> Tensor.of(new float[5], 2, 3));
            assertTrue(data.getMessage().contains("5 elements; the shape needs 6"), data.getMessage());
        }
    }

    /** toString shows the shape, type, autograd state and the first values (what jshell prints of a result). */
    @Test
    void toStringShowsTheFirstValues() {
        Tensor kept;
        try (Scope s = Scope.open()) {
            Tensor small = Tensor.of(new float[] {1.5f, -2, 0.25f}, 3).requiresGrad(true);
            assertEquals("Tensor[3] F32 requiresGrad [1.5, -2.0, 0.25]", small.toString());
            Tensor ids = Tensor.ofInts(new int[] {7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, 2, 5);
            assertEquals("Tensor[2, 5] I32 [7, 8, 9, 10, 11, 12, 13, 14, ... 10 values]", ids.toString());
            Tensor doubled = ai.kestrel.engine.ops.Arith.scale(small, 2);
            assertEquals("Tensor[3] F32 requiresGrad <scale> [3.0, -4.0, 0.5]", doubled.toString());
            assertEquals("Tensor[1, 32] Q8_0 (quantized)", ai.kestrel.engine.ops.Casts.to(Tensor.zeros(DType.F32, 1, 32), DType.Q8_0).toString());
            kept = small;
        }
        assertEquals("Tensor[3] F32 requiresGrad (freed)", kept.toString());
    }
}
