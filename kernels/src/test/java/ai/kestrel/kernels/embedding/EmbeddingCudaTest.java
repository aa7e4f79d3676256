package ai.kestrel.kernels.embedding;

import ai.kestrel.kernels.cuda.EmbeddingCuda;
import ai.kestrel.kernels.cuda.RequiresCuda;

/** {@link EmbeddingTest}'s cases on the GPU. */
@RequiresCuda
class EmbeddingCudaTest extends EmbeddingTest {
    @Override
    Embedding impl() {
        return new EmbeddingCuda();
    }
}
