package ai.kestrel.engine;

/**
 * Element types. Quantized types are stored in blocks along the last dimension: {@link #Q8_0} is GGUF's
 * {@code block_q8_0} (an fp16 scale and 32 int8 values, 34 bytes per 32 elements); {@link #NF4} is
 * bitsandbytes' NF4 (double-quantized scales reconstructed to float32), a float32 scale and 32 bytes of 4-bit
 * codes per 64 elements (the kernels' {@code WeightFormat.NF4}).
 */
public enum DType {
    F32(4, 1),
    F64(8, 1),
    BF16(2, 1),
    F16(2, 1),
    Q8_0(34, 32),
    NF4(36, 64),
    I8(1, 1),
    U8(1, 1),
    I32(4, 1),
    I64(8, 1);

    private final int blockBytes;
    private final int blockSize;

    DType(int blockBytes, int blockSize) {
        this.blockBytes = blockBytes;
        this.blockSize = blockSize;
    }

    /** Elements per storage block (1 for plain types). */
    public int blockSize() {
        return blockSize;
    }

    /** Bytes per storage block. */
    public int blockBytes() {
        return blockBytes;
    }

    /** Bytes needed for {@code n} elements; {@code n} must be a whole number of blocks. */
    public long bytes(long n) {
        if (n % blockSize != 0) {
            throw new IllegalArgumentException(this + " stores blocks of " + blockSize + " elements; " + n + " is not a multiple");
        }
        return Math.multiplyExact(n / blockSize, (long) blockBytes);
    }

    /** True for F32 and F64, the types activations and gradients take. */
    public boolean isCompute() {
        return this == F32 || this == F64;
    }

    /** True for every floating-point or quantized-float type (weights may be any of them). */
    public boolean isFloating() {
        return this == F32 || this == F64 || this == BF16 || this == F16 || this == Q8_0 || this == NF4;
    }
}
