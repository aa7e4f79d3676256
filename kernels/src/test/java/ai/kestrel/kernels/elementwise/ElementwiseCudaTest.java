package ai.kestrel.kernels.elementwise;

import ai.kestrel.kernels.cuda.ElementwiseCuda;
import ai.kestrel.kernels.cuda.RequiresCuda;

/** {@link ElementwiseTest}'s cases on the GPU. */
@RequiresCuda
class ElementwiseCudaTest extends ElementwiseTest {
    @Override
    Elementwise impl() {
        return new ElementwiseCuda();
    }
}
