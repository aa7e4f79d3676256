package ai.kestrel.engine.io;

import ai.kestrel.engine.DType;

/**
 * ggml tensor types as GGUF numbers them, with their block layout (elements per block, bytes per block) so
 * every tensor's extent can be validated, and the Kestrel dtype of the ones Kestrel loads.
 */
public enum GgmlType {
    F32(0, 1, 4, DType.F32), F16(1, 1, 2, DType.F16), Q4_0(2, 32, 18, null), Q4_1(3, 32, 20, null),
    Q5_0(6, 32, 22, null), Q5_1(7, 32, 24, null), Q8_0(8, 32, 34, DType.Q8_0), Q8_1(9, 32, 36, null),
    Q2_K(10, 256, 84, null), Q3_K(11, 256, 110, null), Q4_K(12, 256, 144, null), Q5_K(13, 256, 176, null),
    Q6_K(14, 256, 210, null), Q8_K(15, 256, 292, null), IQ2_XXS(16, 256, 66, null), IQ2_XS(17, 256, 74, null),
    IQ3_XXS(18, 256, 98, null), IQ1_S(19, 256, 50, null), IQ4_NL(20, 32, 18, null), IQ3_S(21, 256, 110, null),
    IQ2_S(22, 256, 82, null), IQ4_XS(23, 256, 136, null), I8(24, 1, 1, DType.I8), I16(25, 1, 2, null),
    I32(26, 1, 4, DType.I32), I64(27, 1, 8, DType.I64), F64(28, 1, 8, DType.F64), IQ1_M(29, 256, 56, null),
    BF16(30, 1, 2, DType.BF16), TQ1_0(34, 256, 54, null), TQ2_0(35, 256, 66, null), MXFP4(39, 32, 17, null);

    public final int id;
    public final int blockSize;
    public final int blockBytes;
    /** The Kestrel dtype, or {@code null} when Kestrel does not load this type. */
    public final DType dtype;

    GgmlType(int id, int blockSize, int blockBytes, DType dtype) {
        this.id = id;
        this.blockSize = blockSize;
        this.blockBytes = blockBytes;
        this.dtype = dtype;
    }

    /** The type with GGUF number {@code id}, or {@code null}. */
    public static GgmlType of(int id) {
        for (GgmlType t : values()) {
            if (t.id == id) {
                return t;
            }
        }
        return null;
    }

    /** The GGUF type that stores a Kestrel dtype. */
    public static GgmlType of(DType t) {
        for (GgmlType g : values()) {
            if (g.dtype == t) {
                return g;
            }
        }
        throw new IllegalArgumentException("GGUF cannot store " + t);
    }
}
