package ai.kestrel.kernels.matmul;

import ai.kestrel.kernels.cuda.MatmulCuda;
import ai.kestrel.kernels.cuda.RequiresCuda;
import ai.kestrel.kernels.quant.WeightFormat;

/**
 * {@link MatmulTest}'s cases on the GPU: every format through the GEMV (M <= 16) and the tiled GEMM paths, BF16 and
 * F16 with M > 16 and K % 16 == 0 on tensor cores.
 */
@RequiresCuda
class MatmulCudaTest extends MatmulTest {
    @Override
    Matmul impl() {
        return new MatmulCuda();
    }

    /**
     * The tensor-core path rounds x to bf16 (unit roundoff 2^-9) or f16 (2^-11): with O(1) values the error of a
     * sum of k products has a standard deviation of about 2^-9 / sqrt(3) * sqrt(k) = 1.1e-3 sqrt(k) (bf16) and a
     * quarter of that (f16). Factors 400 and 100 on 2e-5 sqrt(k) allow about 7 standard deviations; the float32
     * paths keep the CPU's tolerance.
     */
    @Override
    double forwardTolFactor(WeightFormat f, int m, int k) {
        if (!MatmulCuda.usesTensorCores(f, m, k)) {
            return 1;
        }
        return f == WeightFormat.BF16 ? 400 : 100;
    }
}
