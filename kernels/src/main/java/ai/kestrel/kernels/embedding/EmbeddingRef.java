package ai.kestrel.kernels.embedding;

import ai.kestrel.kernels.Buf;
import ai.kestrel.kernels.quant.Weights;
import java.lang.foreign.MemorySegment;

/** Reference {@link Embedding}: plain loops over {@link Weights#get}, never optimised. */
final class EmbeddingRef implements Embedding {
    @Override
    public void gather(Weights table, MemorySegment ids, int m, Buf out) {
        int d = table.k();
        for (int i = 0; i < m; i++) {
            int id = Embedding.id(ids, i, table.n());
            for (int c = 0; c < d; c++) {
                out.set((long) i * d + c, table.get(id, c));
            }
        }
    }

    @Override
    public void scatterAdd(Buf dOut, MemorySegment ids, int m, Buf dTable, int v, int d) {
        for (int i = 0; i < m; i++) {
            int id = Embedding.id(ids, i, v);
            for (int c = 0; c < d; c++) {
                dTable.add((long) id * d + c, dOut.get((long) i * d + c));
            }
        }
    }
}
