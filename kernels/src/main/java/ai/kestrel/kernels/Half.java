package ai.kestrel.kernels;

/**
 * Scalar conversions between float32 and the 16-bit formats weights come in: IEEE binary16 (F16) and
 * bfloat16 (BF16). Vector kernels have their own widening loops; these are the reference.
 */
public final class Half {
    private Half() {
    }

    /** bfloat16 bits (the upper half of a float32) to float. */
    public static float bf16ToFloat(short bits) {
        return Float.intBitsToFloat((bits & 0xffff) << 16);
    }

    /** float to bfloat16 bits, rounding to nearest even (NaN stays a quiet NaN), as PyTorch and ggml do. */
    public static short floatToBf16(float f) {
        int x = Float.floatToRawIntBits(f);
        if ((x & 0x7fffffff) > 0x7f800000) {
            return (short) ((x >>> 16) | 0x0040);
        }
        int rounding = 0x7fff + ((x >>> 16) & 1);
        return (short) ((x + rounding) >>> 16);
    }

    /** IEEE binary16 bits to float. */
    public static float f16ToFloat(short bits) {
        return Float.float16ToFloat(bits);
    }

    /** float to IEEE binary16 bits, rounding to nearest even. */
    public static short floatToF16(float f) {
        return Float.floatToFloat16(f);
    }

    /** {@code f} rounded to bfloat16 and back. */
    public static float roundBf16(float f) {
        return bf16ToFloat(floatToBf16(f));
    }

    /** {@code f} rounded to binary16 and back. */
    public static float roundF16(float f) {
        return f16ToFloat(floatToF16(f));
    }
}
