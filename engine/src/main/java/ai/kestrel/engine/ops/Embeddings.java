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
        if (table.device() == ai.kestrel.engine.Device.CUDA) {
            return lookupGpu(table, ids);
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

    /** {@link #lookup} of a table on the GPU (in its stored format); the ids may be on either side. */
    private static Tensor lookupGpu(Tensor table, Tensor ids) {
        if (table.rank() != 2) {
            throw new IllegalArgumentException("lookup: the table must be 2-D (V, D), got shape " + Arrays.toString(table.shape()));
        }
        ai.kestrel.kernels.quant.WeightFormat f = Linalg.format(table.dtype());
        int v = table.dim(0);
        int d = table.dim(1);
        int m = Math.toIntExact(ids.numel());
        for (int id : ids.toIntArray()) {
            if (id < 0 || id >= v) {
                throw new IllegalArgumentException("lookup: token id " + id + " is outside the table's " + v + " rows");
            }
        }
        long[] shape = Arrays.copyOf(ids.shape(), ids.rank() + 1);
        shape[ids.rank()] = d;
        Tensor y = Tensor.empty(table.device(), DType.F32, shape);
        Tensor idsDev = ids.to(table.device());
        ai.kestrel.kernels.cuda.Cuda c = ai.kestrel.kernels.cuda.Cuda.get();
        ai.kestrel.kernels.cuda.DevBuf tb = ((ai.kestrel.engine.Storage.Gpu) table.storage()).buf();
        ai.kestrel.kernels.cuda.DevBuf ib = ((ai.kestrel.engine.Storage.Gpu) idsDev.storage()).buf();
        ai.kestrel.kernels.cuda.EmbeddingCuda.gather(c, tb, f, v, d, ib, m, y.buf().devBuf());
        return Autograd.record(y, "embedding", (g, needs) -> {
            Tensor dt = Tensor.zerosLike(table);
            ai.kestrel.kernels.cuda.EmbeddingCuda.scatterAdd(c, g.to(table.device()).buf().devBuf(), ib, m, dt.buf().devBuf(), v, d);
            return new Tensor[] {dt, null};
        }, table, ids);
    }
}
