package ai.kestrel.kernels.matmul;

import ai.kestrel.kernels.Vec;
import static ai.kestrel.kernels.Vec.F;

import ai.kestrel.kernels.quant.WeightFormat;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * Single-row decode ({@code M = 1}): four weight rows dotted with {@code x} straight from their stored bytes,
 * converting in registers, one pass over memory (decoding into a tile first writes and re-reads every value).
 */
final class GemvFused {
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    private static final VectorSpecies<Short> S = VectorSpecies.of(short.class, VectorShape.forBitSize(F.length() * 16));
    private static final VectorSpecies<Integer> I = F.withLanes(int.class);
    private static final VectorSpecies<Byte> B = VectorSpecies.of(byte.class, VectorShape.forBitSize(Math.max(64, F.length() * 8)));
    private static final int B_PARTS = B.length() / F.length();

    private GemvFused() {
    }

    /**
     * Formats whose fused path beats decoding into a tile first. Measured at 12288 x 1280, 2 threads, on the
     * Xeon developer machine: F32 20.8 vs 10.2 GB/s, Q8_0 12.5 vs 7.5, BF16 even (8.8 vs 8.1); F16 loses
     * (3.5 vs 11.1 GB/s: its longer conversion, inlined four times, is too much for one compiled loop).
     */
    static boolean fuses(WeightFormat f) {
        return f == WeightFormat.F32 || f == WeightFormat.BF16 || f == WeightFormat.Q8_0;
    }

    /**
     * What the kernel for {@code f} reads instead of {@code x}, computed once per call: for BF16, {@code x}'s
     * even elements then its odd ones (see {@link #bf16}); for the other formats {@code x} itself.
     */
    static float[] prepare(WeightFormat f, float[] x, int k) {
        if (f != WeightFormat.BF16) {
            return x;
        }
        int h = k / 2;
        float[] xp = new float[2 * h];
        for (int i = 0; i < h; i++) {
            xp[i] = x[2 * i];
            xp[h + i] = x[2 * i + 1];
        }
        return xp;
    }

    /**
     * {@code out[r] = W[row0 + r] · x} for r < 4, rows {@code rowBytes} apart; {@code k} elements each;
     * {@code xp} is {@link #prepare}'s result for {@code x}.
     */
    static void dot4(WeightFormat f, MemorySegment w, long row0, long rowBytes, float[] x, float[] xp, int k, float[] out) {
        switch (f) {
            case F32 -> f32(w, row0, rowBytes, x, k, out);
            case BF16 -> bf16(w, row0, rowBytes, x, xp, k, out);
            case Q8_0 -> q8(w, row0, rowBytes, x, k, out);
            case F16, F64 -> throw new IllegalArgumentException(f + " weights do not take the fused path");
        }
    }

    private static void f32(MemorySegment w, long r0, long rb, float[] x, int k, float[] out) {
        FloatVector a0 = FloatVector.zero(F), a1 = FloatVector.zero(F), a2 = FloatVector.zero(F), a3 = FloatVector.zero(F);
        int i = 0;
        for (int bound = F.loopBound(k); i < bound; i += F.length()) {
            FloatVector xv = FloatVector.fromArray(F, x, i);
            long o = r0 + i * 4L;
            a0 = FloatVector.fromMemorySegment(F, w, o, LE).fma(xv, a0);
            a1 = FloatVector.fromMemorySegment(F, w, o + rb, LE).fma(xv, a1);
            a2 = FloatVector.fromMemorySegment(F, w, o + 2 * rb, LE).fma(xv, a2);
            a3 = FloatVector.fromMemorySegment(F, w, o + 3 * rb, LE).fma(xv, a3);
        }
        out[0] = Vec.sum(a0);
        out[1] = Vec.sum(a1);
        out[2] = Vec.sum(a2);
        out[3] = Vec.sum(a3);
        for (; i < k; i++) {
            for (int r = 0; r < 4; r++) {
                out[r] += x[i] * w.get(ValueLayout.JAVA_FLOAT_UNALIGNED, r0 + r * rb + i * 4L);
            }
        }
    }

    /**
     * BF16 without lane conversions: each 32-bit lane of the weight row holds an (even, odd) pair of bf16
     * values, the even one in the low half. {@code lane << 16} is the even element as a float and
     * {@code lane & 0xFFFF0000} the odd one, so two integer operations per pair feed two FMAs against {@code x}'s
     * even and odd elements ({@code xp}: evens, then odds).
     */
    private static void bf16(MemorySegment w, long r0, long rb, float[] x, float[] xp, int k, float[] out) {
        FloatVector a0 = FloatVector.zero(F), a1 = FloatVector.zero(F), a2 = FloatVector.zero(F), a3 = FloatVector.zero(F);
        FloatVector b0 = FloatVector.zero(F), b1 = FloatVector.zero(F), b2 = FloatVector.zero(F), b3 = FloatVector.zero(F);
        int h = k / 2;
        int i = 0;
        for (int bound = I.loopBound(h); i < bound; i += I.length()) {
            FloatVector xe = FloatVector.fromArray(F, xp, i);
            FloatVector xo = FloatVector.fromArray(F, xp, h + i);
            long o = r0 + i * 4L;
            IntVector v0 = IntVector.fromMemorySegment(I, w, o, LE);
            IntVector v1 = IntVector.fromMemorySegment(I, w, o + rb, LE);
            IntVector v2 = IntVector.fromMemorySegment(I, w, o + 2 * rb, LE);
            IntVector v3 = IntVector.fromMemorySegment(I, w, o + 3 * rb, LE);
            a0 = v0.lanewise(VectorOperators.LSHL, 16).viewAsFloatingLanes().fma(xe, a0);
            b0 = v0.and(0xFFFF0000).viewAsFloatingLanes().fma(xo, b0);
            a1 = v1.lanewise(VectorOperators.LSHL, 16).viewAsFloatingLanes().fma(xe, a1);
            b1 = v1.and(0xFFFF0000).viewAsFloatingLanes().fma(xo, b1);
            a2 = v2.lanewise(VectorOperators.LSHL, 16).viewAsFloatingLanes().fma(xe, a2);
            b2 = v2.and(0xFFFF0000).viewAsFloatingLanes().fma(xo, b2);
            a3 = v3.lanewise(VectorOperators.LSHL, 16).viewAsFloatingLanes().fma(xe, a3);
            b3 = v3.and(0xFFFF0000).viewAsFloatingLanes().fma(xo, b3);
        }
        out[0] = Vec.sum(a0.add(b0));
        out[1] = Vec.sum(a1.add(b1));
        out[2] = Vec.sum(a2.add(b2));
        out[3] = Vec.sum(a3.add(b3));
        for (int j = 2 * i; j < k; j++) {
            for (int r = 0; r < 4; r++) {
                out[r] += x[j] * Float.intBitsToFloat((w.get(ValueLayout.JAVA_SHORT_UNALIGNED, r0 + r * rb + j * 2L) & 0xffff) << 16);
            }
        }
    }

    /**
     * Q8_0: per 32-element block, the int8 values times {@code x} are summed in a block accumulator, which is
     * then scaled by the block's {@code d} into the row accumulator (one multiply per block, not per value).
     */
    private static void q8(MemorySegment w, long r0, long rb, float[] x, int k, float[] out) {
        FloatVector a0 = FloatVector.zero(F), a1 = FloatVector.zero(F), a2 = FloatVector.zero(F), a3 = FloatVector.zero(F);
        int blocks = k / WeightFormat.Q8_0_BLOCK;
        for (int b = 0; b < blocks; b++) {
            long o = r0 + b * 34L;
            int xo = b * WeightFormat.Q8_0_BLOCK;
            FloatVector s0 = FloatVector.zero(F), s1 = FloatVector.zero(F), s2 = FloatVector.zero(F), s3 = FloatVector.zero(F);
            for (int j = 0; j < WeightFormat.Q8_0_BLOCK; j += B.length()) {
                ByteVector q0 = ByteVector.fromMemorySegment(B, w, o + 2 + j, LE);
                ByteVector q1 = ByteVector.fromMemorySegment(B, w, o + rb + 2 + j, LE);
                ByteVector q2 = ByteVector.fromMemorySegment(B, w, o + 2 * rb + 2 + j, LE);
                ByteVector q3 = ByteVector.fromMemorySegment(B, w, o + 3 * rb + 2 + j, LE);
                for (int p = 0; p < B_PARTS; p++) {
                    FloatVector xv = FloatVector.fromArray(F, x, xo + j + p * F.length());
                    s0 = ((FloatVector) q0.convertShape(VectorOperators.B2F, F, p)).fma(xv, s0);
                    s1 = ((FloatVector) q1.convertShape(VectorOperators.B2F, F, p)).fma(xv, s1);
                    s2 = ((FloatVector) q2.convertShape(VectorOperators.B2F, F, p)).fma(xv, s2);
                    s3 = ((FloatVector) q3.convertShape(VectorOperators.B2F, F, p)).fma(xv, s3);
                }
            }
            a0 = s0.mul(Float.float16ToFloat(w.get(ValueLayout.JAVA_SHORT_UNALIGNED, o))).add(a0);
            a1 = s1.mul(Float.float16ToFloat(w.get(ValueLayout.JAVA_SHORT_UNALIGNED, o + rb))).add(a1);
            a2 = s2.mul(Float.float16ToFloat(w.get(ValueLayout.JAVA_SHORT_UNALIGNED, o + 2 * rb))).add(a2);
            a3 = s3.mul(Float.float16ToFloat(w.get(ValueLayout.JAVA_SHORT_UNALIGNED, o + 3 * rb))).add(a3);
        }
        out[0] = Vec.sum(a0);
        out[1] = Vec.sum(a1);
        out[2] = Vec.sum(a2);
        out[3] = Vec.sum(a3);
    }
}
