package ai.kestrel.kernels.quant;

import static ai.kestrel.kernels.Vec.F;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;

/**
 * Float32 values rounded to float16 or bfloat16 precision and kept as float32: what ggml's CPU backend does to the
 * activation operand of a product with F16 or BF16 weights (it converts x to the weight's type, then multiplies
 * in float32). Both round to nearest, ties to even. F16: values of magnitude 65520 and more become infinities,
 * magnitudes below 2^-14 keep float16's subnormal precision (multiples of 2^-24). BF16: float32's range, 8
 * significant bits. NaN stays NaN, infinities stay infinite, the sign of zero is kept.
 *
 * <p>{@link #f16} and {@link #bf16} are the specification (scalar: {@link Float#floatToFloat16} and the bit
 * rounding of ggml's {@code GGML_FP32_TO_BF16}); {@link #round} computes the same values bit for bit with vectors.
 */
public final class HalfRounding {
    private static final int SIGN = 0x8000_0000;
    private static final float F16_MIN_NORMAL = 0x1p-14f;
    private static final float F16_MAX = 65504f;
    /** Adding and subtracting 0.5 rounds a magnitude below 2^-14 to a multiple of 2^-24 (float's ulp in [0.5, 1)). */
    private static final float F16_SUBNORMAL_MAGIC = 0.5f;

    private HalfRounding() {
    }

    /** True for the weight formats whose products round x here: F16 and BF16. */
    public static boolean rounds(WeightFormat f) {
        return f == WeightFormat.F16 || f == WeightFormat.BF16;
    }

    /** The reference: {@code v} rounded to the nearest float16, as float32. */
    public static float f16(float v) {
        return Float.float16ToFloat(Float.floatToFloat16(v));
    }

    /** The reference: {@code v} rounded to the nearest bfloat16 (ties to even), as float32; NaN stays NaN. */
    public static float bf16(float v) {
        if (Float.isNaN(v)) {
            return v;
        }
        int b = Float.floatToRawIntBits(v);
        return Float.intBitsToFloat((b + 0x7FFF + ((b >>> 16) & 1)) & 0xFFFF_0000);
    }

    /**
     * {@code n} values from {@code x[off]} rounded to {@code f}'s precision (F16 or BF16) into {@code out[outOff..]};
     * {@code out} may be {@code x} at the same offset (rounding in place).
     */
    public static void round(WeightFormat f, float[] x, int off, int n, float[] out, int outOff) {
        if (!rounds(f)) {
            throw new IllegalArgumentException("only F16 and BF16 products round their input to half precision, not " + f);
        }
        boolean half = f == WeightFormat.F16;
        int lanes = F.length();
        int i = 0;
        for (; i + lanes <= n; i += lanes) {
            FloatVector v = FloatVector.fromArray(F, x, off + i);
            (half ? f16(v) : bf16(v)).intoArray(out, outOff + i);
        }
        for (; i < n; i++) {
            out[outOff + i] = half ? f16(x[off + i]) : bf16(x[off + i]);
        }
    }

    /** {@link #round} of {@code m} rows of {@code k} (all of {@code x}) into a new array. */
    public static float[] round(WeightFormat f, float[] x, int m, int k) {
        float[] out = new float[m * k];
        round(f, x, 0, m * k, out, 0);
        return out;
    }

    private static FloatVector bf16(FloatVector v) {
        IntVector b = v.reinterpretAsInts();
        IntVector odd = b.lanewise(VectorOperators.LSHR, 16).and(1);
        FloatVector r = b.add(odd.add(0x7FFF)).and(0xFFFF_0000).reinterpretAsFloats();
        return r.blend(v, v.test(VectorOperators.IS_NAN));
    }

    private static FloatVector f16(FloatVector v) {
        IntVector b = v.reinterpretAsInts();
        IntVector sign = b.and(SIGN);
        FloatVector a = v.abs();
        IntVector ab = a.reinterpretAsInts();
        // normal range: 11 significant bits, the 13 low mantissa bits rounded away (a carry moves into the exponent)
        IntVector odd = ab.lanewise(VectorOperators.LSHR, 13).and(1);
        FloatVector normal = ab.add(odd.add(0x0FFF)).and(0xFFFF_E000).reinterpretAsFloats();
        // below 2^-14: multiples of 2^-24
        FloatVector sub = a.add(F16_SUBNORMAL_MAGIC).sub(F16_SUBNORMAL_MAGIC);
        FloatVector r = normal.blend(sub, a.compare(VectorOperators.LT, F16_MIN_NORMAL));
        r = r.blend(Float.POSITIVE_INFINITY, r.compare(VectorOperators.GT, F16_MAX));
        VectorMask<Float> nan = v.test(VectorOperators.IS_NAN);
        return r.reinterpretAsInts().or(sign).reinterpretAsFloats().blend(v, nan);
    }
}
