package ai.kestrel.kernels.ssd;

import ai.kestrel.kernels.cuda.RequiresCuda;
import ai.kestrel.kernels.cuda.SsdScanCuda;

/** {@link SsdScanTest}'s twin cases on the GPU. */
@RequiresCuda
class SsdScanCudaTest extends SsdScanTest {
    @Override
    SsdScan impl() {
        return new SsdScanCuda();
    }
}
