package ai.kestrel.kernels.rope;

import ai.kestrel.kernels.cuda.RopeCuda;
import ai.kestrel.kernels.cuda.RequiresCuda;

/** {@link RopeTest}'s cases on the GPU. */
@RequiresCuda
class RopeCudaTest extends RopeTest {
    @Override
    Rope impl() {
        return new RopeCuda();
    }
}
