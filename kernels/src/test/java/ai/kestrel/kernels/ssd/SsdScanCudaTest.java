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

    /** The backward keeps 4 x 8 rows of state and 16 rows of B and C per block in shared memory (N 4097: 786 KB). */
    @Override
    boolean refuses(SsdScan.Dims m) {
        return m.n() > 1024;
    }
}
