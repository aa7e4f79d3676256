package ai.kestrel.kernels.norm;

import ai.kestrel.kernels.cuda.RmsNormCuda;
import ai.kestrel.kernels.cuda.RequiresCuda;

/** {@link RmsNormTest}'s cases on the GPU. */
@RequiresCuda
class RmsNormCudaTest extends RmsNormTest {
    @Override
    RmsNorm impl() {
        return new RmsNormCuda();
    }
}
