package ai.kestrel.kernels.ssd;

import ai.kestrel.kernels.cuda.RequiresCuda;
import ai.kestrel.kernels.cuda.SsdScanCuda;

/** {@link SsdScanTest}'s cases on the GPU with the chunked forward ({@code ssdc_*} kernels). */
@RequiresCuda
class SsdScanChunkedCudaTest extends SsdScanTest {
    @Override
    SsdScan impl() {
        return new SsdScanCuda(true);
    }
}
