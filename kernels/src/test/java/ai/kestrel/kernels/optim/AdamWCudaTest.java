package ai.kestrel.kernels.optim;

import ai.kestrel.kernels.cuda.AdamWCuda;
import ai.kestrel.kernels.cuda.RequiresCuda;

/** {@link AdamWTest}'s cases on the GPU. */
@RequiresCuda
class AdamWCudaTest extends AdamWTest {
    @Override
    AdamW impl() {
        return new AdamWCuda();
    }
}
