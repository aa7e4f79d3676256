package ai.kestrel.model;

import ai.kestrel.engine.Scope;
import ai.kestrel.engine.Tensor;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * A {@link LanguageModel.Cache} made of float tensors whose first dimension is the batch row: constant-size
 * states {@code (B, ...)} (conv windows, SSM states) and growing sequences {@code (B, capacity, ...)} (attention keys
 * and values). Every row has its own length, so rows that came from different prompts can decode side by side;
 * rows can be copied between caches and a batch can run on a prefix of its rows (see
 * {@link ai.kestrel.model.generate.BatchGenerator}).
 */
public abstract class RowCache implements LanguageModel.Cache {
    protected final int batch;
    protected final int capacity;
    /** Tokens consumed per row; shared with prefix views. */
    protected final int[] lengths;
    private final Tensor[] states;
    private final Tensor[] sequences;
    private final Scope scope;

    /**
     * @param states    tensors {@code (B, ...)} that do not grow
     * @param sequences tensors {@code (B, capacity, ...)} filled up to each row's length
     * @param scope     what frees them (null for a view)
     */
    protected RowCache(int batch, int capacity, int[] lengths, Tensor[] states, Tensor[] sequences, Scope scope) {
        this.batch = batch;
        this.capacity = capacity;
        this.lengths = lengths;
        this.states = states;
        this.sequences = sequences;
        this.scope = scope;
    }

    @Override
    public int batch() {
        return batch;
    }

    /** The length all rows share; the longest when they differ. */
    @Override
    public int length() {
        int m = 0;
        for (int i = 0; i < batch; i++) {
            m = Math.max(m, lengths[i]);
        }
        return m;
    }

    @Override
    public int length(int row) {
        return lengths[checkRow(row)];
    }

    @Override
    public int capacity() {
        return capacity;
    }

    /** Whether every row has consumed the same number of tokens (then a multi-token step is possible). */
    public boolean uniform() {
        for (int i = 1; i < batch; i++) {
            if (lengths[i] != lengths[0]) {
                return false;
            }
        }
        return true;
    }

    /** Advances every row's length by {@code tokens} (after a step that fed each row that many). */
    public void advance(int tokens) {
        for (int i = 0; i < batch; i++) {
            lengths[i] += tokens;
        }
    }

    private int checkRow(int row) {
        if (row < 0 || row >= batch) {
            throw new IndexOutOfBoundsException("row " + row + " of a cache of " + batch + " rows");
        }
        return row;
    }

    @Override
    public void copyRow(LanguageModel.Cache source, int srcRow, int dstRow) {
        if (!(source instanceof RowCache src) || src.getClass() != getClass() || src.states.length != states.length
                || src.sequences.length != sequences.length) {
            throw new IllegalArgumentException("copyRow: the source cache belongs to another kind of model");
        }
        src.checkRow(srcRow);
        checkRow(dstRow);
        int len = src.lengths[srcRow];
        if (len > capacity) {
            throw new IllegalArgumentException("copyRow: the source row holds " + len + " tokens; this cache holds " + capacity);
        }
        for (int i = 0; i < states.length; i++) {
            long rowBytes = rowBytes(states[i]);
            if (rowBytes != rowBytes(src.states[i])) {
                throw new IllegalArgumentException("copyRow: state " + i + " differs in shape: " + Arrays.toString(src.states[i].shape())
                        + " vs " + Arrays.toString(states[i].shape()));
            }
            Tensor.copyBytes(src.states[i], srcRow * rowBytes, states[i], dstRow * rowBytes, rowBytes);
        }
        for (int i = 0; i < sequences.length; i++) {
            long posBytes = rowBytes(sequences[i]) / capacity;
            long srcPos = rowBytes(src.sequences[i]) / src.capacity;
            if (posBytes != srcPos) {
                throw new IllegalArgumentException("copyRow: sequence " + i + " differs in shape");
            }
            Tensor.copyBytes(src.sequences[i], srcRow * src.capacity * posBytes, sequences[i], dstRow * capacity * posBytes,
                    len * posBytes);
        }
        lengths[dstRow] = len;
    }

    private static long rowBytes(Tensor t) {
        return t.storage().byteSize() / t.size(0);
    }

    /** {@code a} then {@code b}: a model's per-layer tensors of two kinds as one list for this class. */
    protected static Tensor[] concat(Tensor[] a, Tensor[] b) {
        Tensor[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    /** The first {@code rows} rows of each tensor, as views. */
    protected Tensor[] prefixOf(Tensor[] ts, int rows) {
        if (rows < 1 || rows > batch) {
            throw new IllegalArgumentException("a prefix of " + rows + " rows of a cache of " + batch);
        }
        Tensor[] out = new Tensor[ts.length];
        for (int i = 0; i < ts.length; i++) {
            out[i] = ts[i].rows(0, rows);
        }
        return out;
    }

    /** Row {@code r} of a batch tensor as a tensor of batch 1 over the same memory. */
    public static Tensor row(Tensor t, int r) {
        return t.rows(r, 1);
    }

    @Override
    public void close() {
        if (scope != null) {
            scope.close();
        }
    }
}
