package ai.kestrel.kernels;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import jdk.incubator.vector.FloatVector;
import org.junit.jupiter.api.Test;

class VecTest {
    @Test
    void widthFollowsTheProperty() {
        // Surefire runs this module three times: preferred width, then forced 256 and 128 bits
        String bits = System.getProperty(Vec.WIDTH_PROPERTY);
        int expected = bits == null ? FloatVector.SPECIES_PREFERRED.vectorBitSize() : Integer.parseInt(bits);
        assertEquals(expected, Vec.F.vectorBitSize());
        assertEquals(expected / 32, Vec.LANES);
    }

    @Test
    void badWidthIsRejected() {
        assertThrows(IllegalArgumentException.class, () -> Vec.species("96"));
        assertEquals(128, Vec.species("128").vectorBitSize());
    }
}
