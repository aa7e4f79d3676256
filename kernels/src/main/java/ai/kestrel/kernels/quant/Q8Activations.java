package ai.kestrel.kernels.quant;

import static ai.kestrel.kernels.Vec.F;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * The activation operand of a product with Q8_0 weights, rounded as ggml's CPU backend rounds it (and so as
 * llama.cpp computes): each block of 32 values becomes 32 int8 {@code q} and one scale {@code d}, the float16 nearest
 * to {@code max|x| / 127}, with {@code q = rint(x * (127 / max|x|))} (to nearest, ties to even; all zero when the
 * block is). The product then multiplies {@code q * d}, not {@code x}. Non-finite values stay non-finite: a NaN
 * makes its block's scale NaN, an infinity its scale infinite.
 *
 * <p>{@link #quantizeRef} is the specification (scalar); {@link #quantize} and {@link #round} compute the same
 * values bit for bit with vectors.
 */
public final class Q8Activations {
    /** Values per block (a Q8_0 weight block's length). */
    public static final int BLOCK = WeightFormat.Q8_0_BLOCK;

    private static final float MAGIC = 12582912f; // 1.5 * 2^23: adding and subtracting it rounds |v| < 2^22 to nearest even
    private static final VectorSpecies<Short> S = VectorSpecies.of(short.class, VectorShape.forBitSize(F.vectorBitSize() / 2));

    private Q8Activations() {
    }

    /**
     * The reference: {@code k} values (a multiple of {@link #BLOCK}) from {@code x[off]} into {@code q[qOff..]} and
     * one scale per block into {@code d[dOff..]}.
     */
    public static void quantizeRef(float[] x, int off, int k, short[] q, int qOff, float[] d, int dOff) {
        check(k);
        for (int b = 0; b < k / BLOCK; b++) {
            float amax = 0;
            for (int j = 0; j < BLOCK; j++) {
                amax = Math.max(amax, Math.abs(x[off + b * BLOCK + j]));
            }
            d[dOff + b] = scale(amax);
            float id = amax != 0 ? 127f / amax : 0f;
            for (int j = 0; j < BLOCK; j++) {
                q[qOff + b * BLOCK + j] = (short) (int) Math.rint(x[off + b * BLOCK + j] * id);
            }
        }
    }

    /** {@link #quantizeRef} with vectors (the same arguments, the same values bit for bit). */
    public static void quantize(float[] x, int off, int k, short[] q, int qOff, float[] d, int dOff) {
        check(k);
        int lanes = F.length();
        for (int b = 0; b < k / BLOCK; b++) {
            int o = off + b * BLOCK;
            float amax = blockMax(x, o);
            d[dOff + b] = scale(amax);
            FloatVector idv = FloatVector.broadcast(F, amax != 0 ? 127f / amax : 0f);
            for (int j = 0; j < BLOCK; j += lanes) {
                FloatVector v = FloatVector.fromArray(F, x, o + j).mul(idv).add(MAGIC).sub(MAGIC);
                ((ShortVector) v.convertShape(VectorOperators.F2S, S, 0)).intoArray(q, qOff + b * BLOCK + j);
            }
        }
    }

    /**
     * The rounded values {@code q * d} themselves: {@code k} floats from {@code x[off]} into {@code out[outOff..]}
     * ({@code out} may be {@code x} at the same offset: rounding in place).
     */
    public static void round(float[] x, int off, int k, float[] out, int outOff) {
        round(x, off, k, out, outOff, null, 0);
    }

    /** {@link #round} into floats from byte {@code at} of {@code dst} (little-endian). */
    public static void round(float[] x, int off, int k, MemorySegment dst, long at) {
        round(x, off, k, null, 0, dst, at);
    }

    /**
     * Into {@code out} when it is not null, else into {@code dst}. An array is stored with {@code intoArray}, never
     * wrapped by {@code MemorySegment.ofArray}: a heap segment reaching the Vector API's segment stores makes their
     * shared type profile polymorphic, and C2 then calls the segment accessors virtually in every kernel's vector
     * stores (bench/HISTORY.md, "Twenty-first session").
     */
    private static void round(float[] x, int off, int k, float[] out, int outOff, MemorySegment dst, long at) {
        check(k);
        int lanes = F.length();
        for (int b = 0; b < k / BLOCK; b++) {
            int o = off + b * BLOCK;
            float amax = blockMax(x, o);
            FloatVector idv = FloatVector.broadcast(F, amax != 0 ? 127f / amax : 0f);
            float d = scale(amax);
            for (int j = 0; j < BLOCK; j += lanes) {
                FloatVector v = FloatVector.fromArray(F, x, o + j).mul(idv).add(MAGIC).sub(MAGIC).mul(d);
                if (out != null) {
                    v.intoArray(out, outOff + b * BLOCK + j);
                } else {
                    v.intoMemorySegment(dst, at + (b * BLOCK + j) * 4L, ByteOrder.LITTLE_ENDIAN);
                }
            }
        }
    }

    /** {@link #round} of {@code m} rows of {@code k} into a new array. */
    public static float[] round(float[] x, int m, int k) {
        float[] out = new float[m * k];
        for (int i = 0; i < m; i++) {
            round(x, i * k, k, out, i * k);
        }
        return out;
    }

    private static float blockMax(float[] x, int o) {
        FloatVector m = FloatVector.fromArray(F, x, o).abs();
        for (int j = F.length(); j < BLOCK; j += F.length()) {
            m = m.max(FloatVector.fromArray(F, x, o + j).abs());
        }
        return m.reduceLanes(VectorOperators.MAX);
    }

    /** A block's scale: the float16 nearest to {@code amax / 127}. */
    private static float scale(float amax) {
        return Float.float16ToFloat(Float.floatToFloat16(amax / 127f));
    }

    private static void check(int k) {
        if (k % BLOCK != 0) {
            throw new IllegalArgumentException("Q8_0 activations come in blocks of " + BLOCK + ", got a row of " + k);
        }
    }
}
