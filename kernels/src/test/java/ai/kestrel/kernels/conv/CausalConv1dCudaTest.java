package ai.kestrel.kernels.conv;

import ai.kestrel.kernels.cuda.CausalConv1dCuda;
import ai.kestrel.kernels.cuda.RequiresCuda;

/** {@link CausalConv1dTest}'s cases on the GPU. */
@RequiresCuda
class CausalConv1dCudaTest extends CausalConv1dTest {
    @Override
    CausalConv1d impl() {
        return new CausalConv1dCuda();
    }
}
