package ai.kestrel.kernels.quant;

/**
 * How a weight matrix's elements are stored, row by row. Every format is little-endian.
 * {@link #Q8_0} is ggml's {@code block_q8_0}: per 32 consecutive elements of a row, an IEEE half scale
 * {@code d} then 32 signed bytes {@code q}; element = {@code q * d} (34 bytes per 32 elements).
 * {@link #NF4} is bitsandbytes' NF4 in a kernel-friendly block: per 64 consecutive elements of a row, the
 * block's float32 scale (the absmax, after double quantization as bitsandbytes reconstructs it) then 32 bytes
 * of 4-bit codes, the first element in the high nibble; element = {@code Nf4.code()[nibble] * scale}
 * (36 bytes per 64 elements). {@link Nf4} converts from and to bitsandbytes' own layout.
 */
public enum WeightFormat {
    F32(4, 1),
    F64(8, 1),
    F16(2, 1),
    BF16(2, 1),
    Q8_0(34, 32),
    NF4(36, 64);

    /** Elements per Q8_0 block. */
    public static final int Q8_0_BLOCK = 32;
    /** Elements per NF4 block. */
    public static final int NF4_BLOCK = 64;

    private final int blockBytes;
    private final int blockSize;

    WeightFormat(int blockBytes, int blockSize) {
        this.blockBytes = blockBytes;
        this.blockSize = blockSize;
    }

    /** Bytes of one row of {@code k} elements; {@code k} must be a multiple of the block size. */
    public long rowBytes(int k) {
        if (k % blockSize != 0) {
            throw new IllegalArgumentException(this + " rows must hold a multiple of " + blockSize + " elements, got " + k);
        }
        return (long) (k / blockSize) * blockBytes;
    }

    public int blockSize() {
        return blockSize;
    }

    public int blockBytes() {
        return blockBytes;
    }
}
