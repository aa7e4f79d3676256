package ai.kestrel.kernels;

/**
 * Scalar conversions between float32 and the 16-bit formats weights come in: IEEE binary16 (F16) and
 * bfloat16 (BF16). Vector kernels have their own widening loops; these are the reference. Also runs of binary16
 * values converted to and from float32 ({@link #widen}, {@link #narrow}: what a half-precision KV cache stores and
 * reads), as plain loops over {@link Float#float16ToFloat} and {@link Float#floatToFloat16}: C2 turns a loop between
 * a memory segment and an array into the hardware's vector conversions ({@code vcvtph2ps} / {@code vcvtps2ph}, 8 or 16
 * values per instruction, 0.06 and 0.1 ns per value against 0.55 one at a time on a Zen 3, 2026-12-02), which round
 * as the scalar methods do. Between two segments it does not (it cannot rule out overlap), so those go through a
 * float array.
 */
public final class Half {
    private Half() {
    }

    /** Values per pass through the float array of the segment-to-segment conversions. */
    private static final int CHUNK = 1024;
    private static final java.lang.foreign.ValueLayout.OfShort H16 = Buf.F16;

    /** {@code dst[off, off + n) = } binary16 values {@code [index, index + n)} of {@code src}, as floats. */
    public static void widen(java.lang.foreign.MemorySegment src, long index, float[] dst, int off, int n) {
        for (int i = 0; i < n; i++) {
            dst[off + i] = Float.float16ToFloat(src.getAtIndex(H16, index + i));
        }
    }

    /** Float32 values {@code [srcIndex, srcIndex + n)} of {@code src} into binary16 values of {@code dst} from {@code dstIndex}. */
    public static void narrow(java.lang.foreign.MemorySegment src, long srcIndex, java.lang.foreign.MemorySegment dst, long dstIndex, long n) {
        float[] buf = new float[(int) Math.min(CHUNK, n)];
        for (long done = 0; done < n; done += buf.length) {
            int c = (int) Math.min(buf.length, n - done);
            java.lang.foreign.MemorySegment.copy(src, Buf.F32, (srcIndex + done) * 4, buf, 0, c);
            narrow(buf, c, dst, dstIndex + done);
        }
    }

    private static void narrow(float[] src, int n, java.lang.foreign.MemorySegment dst, long dstIndex) {
        for (int i = 0; i < n; i++) {
            dst.setAtIndex(H16, dstIndex + i, Float.floatToFloat16(src[i]));
        }
    }

    /** Binary16 values {@code [srcIndex, srcIndex + n)} of {@code src} into float32 values of {@code dst} from {@code dstIndex}. */
    public static void widen(java.lang.foreign.MemorySegment src, long srcIndex, java.lang.foreign.MemorySegment dst, long dstIndex, long n) {
        float[] buf = new float[(int) Math.min(CHUNK, n)];
        for (long done = 0; done < n; done += buf.length) {
            int c = (int) Math.min(buf.length, n - done);
            widen(src, srcIndex + done, buf, 0, c);
            java.lang.foreign.MemorySegment.copy(buf, 0, dst, Buf.F32, (dstIndex + done) * 4, c);
        }
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
