package ai.kestrel.kernels.matmul;

import ai.kestrel.kernels.cuda.MatmulCuda;
import ai.kestrel.kernels.cuda.RequiresCuda;

/** {@link MatmulTest}'s cases on the GPU: every format through the GEMV (M <= 16) and the tiled GEMM paths. */
@RequiresCuda
class MatmulCudaTest extends MatmulTest {
    @Override
    Matmul impl() {
        return new MatmulCuda();
    }
}
