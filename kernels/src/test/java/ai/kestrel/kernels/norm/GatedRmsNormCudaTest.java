package ai.kestrel.kernels.norm;

import ai.kestrel.kernels.cuda.GatedRmsNormCuda;
import ai.kestrel.kernels.cuda.RequiresCuda;

/** {@link GatedRmsNormTest}'s cases on the GPU. */
@RequiresCuda
class GatedRmsNormCudaTest extends GatedRmsNormTest {
    @Override
    GatedRmsNorm impl() {
        return new GatedRmsNormCuda();
    }
}
