package ai.kestrel.kernels.attention;

import ai.kestrel.kernels.cuda.AttentionCuda;
import ai.kestrel.kernels.cuda.RequiresCuda;

/** {@link AttentionTest}'s cases on the GPU: the tile path (prompts), the row path with and without split keys. */
@RequiresCuda
class AttentionCudaTest extends AttentionTest {
    @Override
    Attention impl() {
        return new AttentionCuda();
    }

    /** float32 sums in another order than the CPU's (tiles of 32 keys, split rows merged). */
    @Override
    double tolerance() {
        return 4;
    }

    /** The backward's tiles of 32 rows by the head width live in shared memory: up to 256 wide in sm_90's 227 KB. */
    @Override
    boolean refusesBackward(Attention.Dims m) {
        return m.p() > 256;
    }
}
