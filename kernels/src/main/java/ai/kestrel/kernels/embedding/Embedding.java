package ai.kestrel.kernels.embedding;

import ai.kestrel.kernels.Buf;
import ai.kestrel.kernels.quant.Weights;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Row lookup in an embedding table. Shapes: {@code table (V, D)} as {@link Weights} in any format (GGUF's
 * {@code token_embd} is often BF16 or Q8_0), {@code ids (M)} int32 little-endian, {@code out, dOut (M, D)},
 * {@code dTable (V, D)} float.
 */
public interface Embedding {
    /** The reference: scalar loops in double; float32 and float64 buffers. */
    Embedding REF = new EmbeddingRef();
    /** Vectorised row decode, rows in parallel; the backward splits the columns between threads. */
    Embedding CPU = new EmbeddingCpu();

    /** {@code out[i] = table[ids[i]]}; an id outside {@code [0, V)} throws, naming the id and V. */
    void gather(Weights table, MemorySegment ids, int m, Buf out);

    /** {@code dTable[ids[i]] += dOut[i]} for every {@code i} (repeated ids add up). */
    void scatterAdd(Buf dOut, MemorySegment ids, int m, Buf dTable, int v, int d);

    /** Id {@code i} of an int32 segment, checked against the vocabulary size. */
    static int id(MemorySegment ids, long i, int v) {
        int id = ids.getAtIndex(ValueLayout.JAVA_INT_UNALIGNED, i);
        if (id < 0 || id >= v) {
            throw new IllegalArgumentException("token id " + id + " at position " + i + " is outside the vocabulary [0, " + v + ")");
        }
        return id;
    }
}
