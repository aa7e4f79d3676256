package ai.kestrel.kernels.loss;

import ai.kestrel.kernels.cuda.CrossEntropyCuda;
import ai.kestrel.kernels.cuda.RequiresCuda;

/** {@link CrossEntropyTest}'s cases on the GPU. */
@RequiresCuda
class CrossEntropyCudaTest extends CrossEntropyTest {
    @Override
    CrossEntropy impl() {
        return new CrossEntropyCuda();
    }
}
