package ai.kestrel.kernels.cuda;

import ai.kestrel.kernels.Buf;
import ai.kestrel.kernels.embedding.Embedding;
import ai.kestrel.kernels.quant.WeightFormat;
import ai.kestrel.kernels.quant.Weights;
import java.lang.foreign.MemorySegment;

/**
 * {@link Embedding} on the GPU ({@code embedding.cu}): the gather one block per id, one thread per column, decoding
 * the stored row (F32, F16, BF16, Q8_0 or NF4) to float32; the scatter-add one block per id, one thread per column,
 * with atomicAdd so repeated ids add up (in an unspecified order). Shapes: {@code table (v, d)} in its stored
 * bytes, {@code ids (m)} int32, {@code out, dOut (m, d)}, {@code dTable (v, d)} float32.
 */
public final class EmbeddingCuda implements Embedding {
    private static int threads(int d) {
        return Math.min(256, Math.max(32, (d + 31) & ~31));
    }

    /** Throws for the formats the gather kernel does not decode (F64). */
    private static void checkFormat(WeightFormat f) {
        if (f == WeightFormat.F64) {
            throw new IllegalArgumentException("the CUDA gather takes F32/F16/BF16/Q8_0/NF4 tables, got F64");
        }
    }

    // ---- device buffers

    /**
     * {@code out[i] = table[ids[i]]} dequantized to float32; {@code table} holds {@code v} rows of {@code d} elements
     * stored as {@code format} (row-major, as {@link Weights#data}). Ids are not checked here (an id outside
     * {@code [0, v)} gives a row of NaN).
     */
    public static void gather(Cuda c, DevBuf table, WeightFormat format, int v, int d, DevBuf ids, int m, DevBuf out) {
        checkFormat(format);
        c.launch("emb_gather", m, threads(d), 0, table, ids, out, v, d, format.rowBytes(d), format.ordinal());
    }

    /** {@code dTable[ids[i]] += dOut[i]} for every {@code i}; ids outside {@code [0, v)} are skipped. */
    public static void scatterAdd(Cuda c, DevBuf dOut, DevBuf ids, int m, DevBuf dTable, int v, int d) {
        c.launch("emb_scatter_add", m, threads(d), 0, dOut, ids, dTable, v, d);
    }

    // ---- host buffers, staged

    @Override
    public void gather(Weights table, MemorySegment ids, int m, Buf out) {
        checkFormat(table.format());
        int d = table.k();
        long n = (long) m * d;
        Buf o = out.requireF32("out", n).slice(0, n);
        for (int i = 0; i < m; i++) {
            Embedding.id(ids, i, table.n()); // validate every id before writing anything
        }
        try (Staging s = new Staging(Cuda.get())) {
            gather(s.cuda(), s.in(table.data()), table.format(), table.n(), d, s.in(ids.asSlice(0, m * 4L)), m, s.out(o));
        }
    }

    @Override
    public void scatterAdd(Buf dOut, MemorySegment ids, int m, Buf dTable, int v, int d) {
        long n = (long) m * d;
        long tn = (long) v * d;
        Buf src = dOut.requireF32("dOut", n).slice(0, n);
        Buf dst = dTable.requireF32("dTable", tn).slice(0, tn);
        for (int i = 0; i < m; i++) {
            Embedding.id(ids, i, v);
        }
        try (Staging s = new Staging(Cuda.get())) {
            scatterAdd(s.cuda(), s.in(src), s.in(ids.asSlice(0, m * 4L)), m, s.inOut(dst), v, d);
        }
    }
}
