package ai.kestrel.kernels.scan;

import ai.kestrel.kernels.cuda.RequiresCuda;
import ai.kestrel.kernels.cuda.SelectiveScanCuda;

/** {@link SelectiveScanTest}'s cases on the GPU. */
@RequiresCuda
class SelectiveScanCudaTest extends SelectiveScanTest {
    @Override
    SelectiveScan impl() {
        return new SelectiveScanCuda();
    }
}
