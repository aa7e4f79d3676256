package ai.kestrel.kernels.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** The probe answers on every machine: a device, or one line saying what is missing. */
class CudaProbeTest {
    @Test
    void probeGivesADeviceOrAReason() {
        if (Cuda.available()) {
            assertNull(Cuda.unavailableReason());
            assertNotNull(Cuda.get().describe());
        } else {
            String why = Cuda.unavailableReason();
            assertNotNull(why);
            assertTrue(!why.isBlank() && !why.contains("\n"), why);
            IllegalStateException e = assertThrows(IllegalStateException.class, Cuda::get);
            assertEquals("CUDA is not available: " + why, e.getMessage());
            System.out.println("[cuda] " + why);
        }
    }
}
