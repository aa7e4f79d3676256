package ai.kestrel.kernels.matmul;

import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.kestrel.kernels.Buf;
import ai.kestrel.kernels.Twin;
import ai.kestrel.kernels.cuda.MatmulCuda;
import ai.kestrel.kernels.cuda.RequiresCuda;
import ai.kestrel.kernels.quant.Codecs;
import ai.kestrel.kernels.quant.WeightFormat;
import ai.kestrel.kernels.quant.Weights;
import java.lang.foreign.Arena;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

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

    /**
     * The device decode of every format, alone: each element exactly as {@link Weights#get} (F16 specials and
     * subnormals included), over rows that are not 16-byte aligned (odd K) and several blocks per row.
     */
    @Test
    void dequantizeMatchesWeightsGet() {
        try (Arena arena = Arena.ofShared()) {
            SplittableRandom rnd = new SplittableRandom(77);
            for (WeightFormat f : FAST) {
                for (int[] nk : new int[][] {{1, 1}, {3, 33}, {7, 320}, {65, 129}}) {
                    int n = nk[0];
                    int k = f.blockSize() > 1 ? Math.max(f.blockSize(), (nk[1] + f.blockSize() - 1) / f.blockSize() * f.blockSize()) : nk[1];
                    float[] vals = Twin.normal(rnd, n * k, 1);
                    if (f == WeightFormat.F16 && vals.length > 8) {
                        vals[1] = Float.POSITIVE_INFINITY;
                        vals[2] = Float.NaN;
                        vals[3] = 0x1p-20f; // subnormal half
                        vals[4] = -0f;
                        vals[5] = 65504f;
                    }
                    Weights w = Codecs.encode(arena, vals, n, k, f);
                    Buf out = Buf.allocF32(arena, (long) n * k);
                    MatmulCuda.dequantize(w, out);
                    for (int r = 0; r < n; r++) {
                        for (int c = 0; c < k; c++) {
                            assertEquals((float) w.get(r, c), (float) out.get((long) r * k + c), 0, f + " (" + n + ", " + k + ") at " + r + ", " + c);
                        }
                    }
                }
            }
        }
    }
}
