package ai.kestrel.engine.ops;

import ai.kestrel.engine.Autograd;
import ai.kestrel.engine.DType;
import ai.kestrel.engine.Tensor;
import ai.kestrel.kernels.embedding.Embedding;
import java.util.Arrays;

/** Embedding lookups and their gradient. */
public final class Embeddings {
    private Embeddings() {
    }

    /**
     * Rows of {@code table (V, D)} (any weight dtype) picked by {@code ids} (I32, any shape): result
     * {@code (ids..., D)} in float32, or float64 for an F64 table. The gradient reaches a float table.
     */
    public static Tensor lookup(Tensor table, Tensor ids) {
        if (ids.dtype() != DType.I32) {
            throw new IllegalArgumentException("lookup: ids must be I32, got " + ids.dtype());
        }
        boolean ref = table.dtype() == DType.F64;
        Embedding k = ref ? Embedding.REF : Embedding.CPU;
        var w = Linalg.weights(table);
        int m = Math.toIntExact(ids.numel());
        int d = w.k();
        long[] shape = Arrays.copyOf(ids.shape(), ids.rank() + 1);
        shape[ids.rank()] = d;
        Tensor y = Tensor.empty(ref ? DType.F64 : DType.F32, shape);
        k.gather(w, ids.segment(), m, y.buf());
        return Autograd.record(y, "embedding", (g, needs) -> {
            Tensor dt = Tensor.zerosLike(table);
            k.scatterAdd(g.buf(), ids.segment(), m, dt.buf(), w.n(), d);
            return new Tensor[] {dt, null};
        }, table, ids);
    }
}
