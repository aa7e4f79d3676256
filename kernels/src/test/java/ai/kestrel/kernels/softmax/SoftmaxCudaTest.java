package ai.kestrel.kernels.softmax;

import ai.kestrel.kernels.cuda.SoftmaxCuda;
import ai.kestrel.kernels.cuda.RequiresCuda;

/** {@link SoftmaxTest}'s cases on the GPU. */
@RequiresCuda
class SoftmaxCudaTest extends SoftmaxTest {
    @Override
    Softmax impl() {
        return new SoftmaxCuda();
    }
}
