package ai.kestrel.model;

import ai.kestrel.engine.Tensor;

/**
 * A causal language model Kestrel runs: token ids in, next-token logits out, with an optional
 * {@link Cache} that makes generation incremental (a prompt, then one token at a time).
 */
public interface LanguageModel extends AutoCloseable {
    /** Logits per position, {@code (B, T, V)} float32, for token ids {@code (B, T)} (I32). */
    Tensor forward(Tensor ids, Cache cache);

    /**
     * Logits of the last position only, {@code (B, 1, V)}: what generation needs after a prompt, without the
     * vocabulary projection of every other position. The cache advances by all {@code T} tokens.
     */
    default Tensor forwardLast(Tensor ids, Cache cache) {
        Tensor all = forward(ids, cache);
        return ai.kestrel.engine.ops.Shapes.narrow(all, 1, all.size(1) - 1, 1);
    }

    /** A fresh cache for {@code batch} sequences of up to {@code capacity} tokens. */
    Cache newCache(int batch, int capacity);

    /**
     * Whose arithmetic the model's products reproduce: {@link ai.kestrel.engine.ops.Numerics#GGML} for a model read
     * from a GGUF file (llama.cpp's), {@link ai.kestrel.engine.ops.Numerics#TRANSFORMERS} for one read from a Hugging
     * Face folder.
     */
    ai.kestrel.engine.ops.Numerics numerics();

    /** Computes from now on with {@code numerics} (see {@link #numerics()}). */
    void setNumerics(ai.kestrel.engine.ops.Numerics numerics);

    /**
     * The element type of the attention keys and values in the caches {@link #newCache} makes: {@code F32} (the
     * default) or {@code F16}, half the memory and half the bytes a decoding step reads, rounded to nearest even as
     * llama.cpp's default cache stores them (host memory only). A model without attention keeps no keys or values.
     */
    default ai.kestrel.engine.DType kvCacheType() {
        return ai.kestrel.engine.DType.F32;
    }

    /**
     * Makes the caches {@link #newCache} makes from now on hold keys and values as {@code type} (F32 or F16; see
     * {@link #kvCacheType()}); caches already made keep theirs. A model without attention accepts either and has no
     * keys or values to store.
     */
    default void setKvCacheType(ai.kestrel.engine.DType type) {
        if (type != ai.kestrel.engine.DType.F32 && type != ai.kestrel.engine.DType.F16) {
            throw new IllegalArgumentException("a KV cache holds F32 or F16 values, not " + type);
        }
    }

    /** Size of the logits' last dimension (the config's vocab size, often larger than the tokenizer's). */
    int vocabSize();

    /** A short description (architecture, sizes, where the weights came from). */
    String describe();

    /** Frees the weights (mapped files and converted tensors). */
    @Override
    void close();

    /**
     * What a model keeps between calls: conv windows and SSM states (constant size) and, for attention,
     * keys and values. {@link #length()} tokens have been consumed.
     */
    interface Cache extends AutoCloseable {
        /** Tokens consumed: the length all rows share, the longest when rows differ. */
        int length();

        /** Tokens consumed by one row. */
        default int length(int row) {
            return length();
        }

        int capacity();

        /** Sequences side by side. */
        int batch();

        /**
         * Copies row {@code srcRow} of {@code source} (a cache of the same model, whose row fits this capacity) into
         * row {@code dstRow}, with its length: how a prompt prefilled alone joins a decoding batch.
         */
        void copyRow(Cache source, int srcRow, int dstRow);

        /**
         * A view of the first {@code rows} rows over the same memory, for a batch that has shrunk; closing it frees
         * nothing. Rows of different lengths can take single-token steps together.
         */
        Cache prefix(int rows);

        @Override
        void close();
    }
}
