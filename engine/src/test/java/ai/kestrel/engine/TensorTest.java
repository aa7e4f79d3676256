package ai.kestrel.engine;

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
}
