package ai.kestrel.kernels.embedding;

import static ai.kestrel.kernels.Vec.F;

import ai.kestrel.kernels.Buf;
import ai.kestrel.kernels.Parallel;
import ai.kestrel.kernels.quant.Dequant;
import ai.kestrel.kernels.quant.WeightFormat;
import ai.kestrel.kernels.quant.Weights;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;

/**
 * Vector API {@link Embedding}. The gather decodes each requested row with {@link Dequant}; the scatter-add
 * gives each thread a slice of the columns and walks all ids, so repeated ids never race.
 */
final class EmbeddingCpu implements Embedding {
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    @Override
    public void gather(Weights table, MemorySegment ids, int m, Buf outb) {
        if (table.format() == WeightFormat.F64) {
            throw new IllegalArgumentException("the fast gather takes F32/F16/BF16/Q8_0 tables, got F64");
        }
        int d = table.k();
        MemorySegment out = outb.requireF32("out", (long) m * d).seg();
        for (int i = 0; i < m; i++) {
            Embedding.id(ids, i, table.n()); // validate every id before writing anything
        }
        Parallel.range(m, Math.max(1, 8192 / Math.max(1, d)), (lo, hi) -> {
            float[] row = new float[d];
            for (int i = lo; i < hi; i++) {
                Dequant.decode(table, Embedding.id(ids, i, table.n()), 0, d, row, 0);
                MemorySegment.copy(row, 0, out, Buf.F32, (long) i * d * 4, d);
            }
        });
    }

    @Override
    public void scatterAdd(Buf dOutb, MemorySegment ids, int m, Buf dTableb, int v, int d) {
        MemorySegment dOut = dOutb.requireF32("dOut", (long) m * d).seg();
        MemorySegment dTable = dTableb.requireF32("dTable", (long) v * d).seg();
        int[] id = new int[m];
        for (int i = 0; i < m; i++) {
            id[i] = Embedding.id(ids, i, v);
        }
        int colGrain = Math.max(F.length(), 256);
        Parallel.range((d + colGrain - 1) / colGrain, 1, (blo, bhi) -> {
            int c0 = blo * colGrain;
            int c1 = Math.min(d, bhi * colGrain);
            for (int i = 0; i < m; i++) {
                long src = (long) i * d * 4;
                long dst = (long) id[i] * d * 4;
                int c = c0;
                for (int bound = c0 + F.loopBound(c1 - c0); c < bound; c += F.length()) {
                    FloatVector.fromMemorySegment(F, dTable, dst + c * 4L, LE)
                            .add(FloatVector.fromMemorySegment(F, dOut, src + c * 4L, LE))
                            .intoMemorySegment(dTable, dst + c * 4L, LE);
                }
                for (; c < c1; c++) {
                    dTable.set(Buf.F32, dst + c * 4L, dTable.get(Buf.F32, dst + c * 4L) + dOut.get(Buf.F32, src + c * 4L));
                }
            }
        });
    }
}
