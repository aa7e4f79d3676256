package ai.kestrel.kernels.matmul;

import static ai.kestrel.kernels.Vec.F;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;

/** 16 x 16 and 8 x 8 transposes in registers (16- and 8-lane vectors), for packing the GEMM's operands. */
final class Transpose {
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    private static final FloatVector[] LO = new FloatVector[4];
    private static final FloatVector[] HI = new FloatVector[4];
    private static final FloatVector[] LO8 = new FloatVector[3];
    private static final FloatVector[] HI8 = new FloatVector[3];

    static {
        // stage t swaps blocks of s = 8 >> t lanes between row pairs (i, i + s): in the concatenation (a, b),
        // the new a takes a's lane l where bit s of l is clear and b's lane l - s where it is set; the new b
        // takes a's lane l + s and b's lane l
        if (F.length() == 16) {
            for (int t = 0; t < 4; t++) {
                int s = 8 >> t;
                float[] lo = new float[16];
                float[] hi = new float[16];
                for (int l = 0; l < 16; l++) {
                    boolean set = (l & s) != 0;
                    lo[l] = set ? 16 + l - s : l;
                    hi[l] = set ? 16 + l : l + s;
                }
                LO[t] = FloatVector.fromArray(F, lo, 0);
                HI[t] = FloatVector.fromArray(F, hi, 0);
            }
        }
        if (F.length() == 8) {
            for (int t = 0; t < 3; t++) {
                int s = 4 >> t;
                float[] lo = new float[8];
                float[] hi = new float[8];
                for (int l = 0; l < 8; l++) {
                    boolean set = (l & s) != 0;
                    lo[l] = set ? 8 + l - s : l;
                    hi[l] = set ? 8 + l : l + s;
                }
                LO8[t] = FloatVector.fromArray(F, lo, 0);
                HI8[t] = FloatVector.fromArray(F, hi, 0);
            }
        }
    }

    private Transpose() {
    }

    /**
     * Transposes the 16 x 16 block of floats at {@code at} of {@code arr}, or of {@code seg} where {@code arr} is
     * null (row i, column c at {@code at + i * stride + c}) into {@code dst[out + c * dstStride + i]}: four
     * stages of two-vector selects over row pairs 8, 4, 2 and 1 apart. Written out row by row on purpose: with
     * the stores in a helper method (not inlined: this method is past C2's inlining budget) the vectors were boxed
     * and a block took 4.8 us instead of 28 ns (2026-12-01).
     */
    static void block16(float[] arr, MemorySegment seg, long at, long stride, float[] dst, int out, int dstStride) {
        FloatVector r0 = row(arr, seg, at);
        FloatVector r1 = row(arr, seg, at + stride);
        FloatVector r2 = row(arr, seg, at + 2 * stride);
        FloatVector r3 = row(arr, seg, at + 3 * stride);
        FloatVector r4 = row(arr, seg, at + 4 * stride);
        FloatVector r5 = row(arr, seg, at + 5 * stride);
        FloatVector r6 = row(arr, seg, at + 6 * stride);
        FloatVector r7 = row(arr, seg, at + 7 * stride);
        FloatVector r8 = row(arr, seg, at + 8 * stride);
        FloatVector r9 = row(arr, seg, at + 9 * stride);
        FloatVector r10 = row(arr, seg, at + 10 * stride);
        FloatVector r11 = row(arr, seg, at + 11 * stride);
        FloatVector r12 = row(arr, seg, at + 12 * stride);
        FloatVector r13 = row(arr, seg, at + 13 * stride);
        FloatVector r14 = row(arr, seg, at + 14 * stride);
        FloatVector r15 = row(arr, seg, at + 15 * stride);
        FloatVector t0;
        FloatVector t1;
        FloatVector lo = LO[0];
        FloatVector hi = HI[0];
        t0 = lo.selectFrom(r0, r8); t1 = hi.selectFrom(r0, r8); r0 = t0; r8 = t1;
        t0 = lo.selectFrom(r1, r9); t1 = hi.selectFrom(r1, r9); r1 = t0; r9 = t1;
        t0 = lo.selectFrom(r2, r10); t1 = hi.selectFrom(r2, r10); r2 = t0; r10 = t1;
        t0 = lo.selectFrom(r3, r11); t1 = hi.selectFrom(r3, r11); r3 = t0; r11 = t1;
        t0 = lo.selectFrom(r4, r12); t1 = hi.selectFrom(r4, r12); r4 = t0; r12 = t1;
        t0 = lo.selectFrom(r5, r13); t1 = hi.selectFrom(r5, r13); r5 = t0; r13 = t1;
        t0 = lo.selectFrom(r6, r14); t1 = hi.selectFrom(r6, r14); r6 = t0; r14 = t1;
        t0 = lo.selectFrom(r7, r15); t1 = hi.selectFrom(r7, r15); r7 = t0; r15 = t1;
        lo = LO[1];
        hi = HI[1];
        t0 = lo.selectFrom(r0, r4); t1 = hi.selectFrom(r0, r4); r0 = t0; r4 = t1;
        t0 = lo.selectFrom(r1, r5); t1 = hi.selectFrom(r1, r5); r1 = t0; r5 = t1;
        t0 = lo.selectFrom(r2, r6); t1 = hi.selectFrom(r2, r6); r2 = t0; r6 = t1;
        t0 = lo.selectFrom(r3, r7); t1 = hi.selectFrom(r3, r7); r3 = t0; r7 = t1;
        t0 = lo.selectFrom(r8, r12); t1 = hi.selectFrom(r8, r12); r8 = t0; r12 = t1;
        t0 = lo.selectFrom(r9, r13); t1 = hi.selectFrom(r9, r13); r9 = t0; r13 = t1;
        t0 = lo.selectFrom(r10, r14); t1 = hi.selectFrom(r10, r14); r10 = t0; r14 = t1;
        t0 = lo.selectFrom(r11, r15); t1 = hi.selectFrom(r11, r15); r11 = t0; r15 = t1;
        lo = LO[2];
        hi = HI[2];
        t0 = lo.selectFrom(r0, r2); t1 = hi.selectFrom(r0, r2); r0 = t0; r2 = t1;
        t0 = lo.selectFrom(r1, r3); t1 = hi.selectFrom(r1, r3); r1 = t0; r3 = t1;
        t0 = lo.selectFrom(r4, r6); t1 = hi.selectFrom(r4, r6); r4 = t0; r6 = t1;
        t0 = lo.selectFrom(r5, r7); t1 = hi.selectFrom(r5, r7); r5 = t0; r7 = t1;
        t0 = lo.selectFrom(r8, r10); t1 = hi.selectFrom(r8, r10); r8 = t0; r10 = t1;
        t0 = lo.selectFrom(r9, r11); t1 = hi.selectFrom(r9, r11); r9 = t0; r11 = t1;
        t0 = lo.selectFrom(r12, r14); t1 = hi.selectFrom(r12, r14); r12 = t0; r14 = t1;
        t0 = lo.selectFrom(r13, r15); t1 = hi.selectFrom(r13, r15); r13 = t0; r15 = t1;
        lo = LO[3];
        hi = HI[3];
        t0 = lo.selectFrom(r0, r1); t1 = hi.selectFrom(r0, r1); r0 = t0; r1 = t1;
        t0 = lo.selectFrom(r2, r3); t1 = hi.selectFrom(r2, r3); r2 = t0; r3 = t1;
        t0 = lo.selectFrom(r4, r5); t1 = hi.selectFrom(r4, r5); r4 = t0; r5 = t1;
        t0 = lo.selectFrom(r6, r7); t1 = hi.selectFrom(r6, r7); r6 = t0; r7 = t1;
        t0 = lo.selectFrom(r8, r9); t1 = hi.selectFrom(r8, r9); r8 = t0; r9 = t1;
        t0 = lo.selectFrom(r10, r11); t1 = hi.selectFrom(r10, r11); r10 = t0; r11 = t1;
        t0 = lo.selectFrom(r12, r13); t1 = hi.selectFrom(r12, r13); r12 = t0; r13 = t1;
        t0 = lo.selectFrom(r14, r15); t1 = hi.selectFrom(r14, r15); r14 = t0; r15 = t1;
        r0.intoArray(dst, out);
        r1.intoArray(dst, out + dstStride);
        r2.intoArray(dst, out + 2 * dstStride);
        r3.intoArray(dst, out + 3 * dstStride);
        r4.intoArray(dst, out + 4 * dstStride);
        r5.intoArray(dst, out + 5 * dstStride);
        r6.intoArray(dst, out + 6 * dstStride);
        r7.intoArray(dst, out + 7 * dstStride);
        r8.intoArray(dst, out + 8 * dstStride);
        r9.intoArray(dst, out + 9 * dstStride);
        r10.intoArray(dst, out + 10 * dstStride);
        r11.intoArray(dst, out + 11 * dstStride);
        r12.intoArray(dst, out + 12 * dstStride);
        r13.intoArray(dst, out + 13 * dstStride);
        r14.intoArray(dst, out + 14 * dstStride);
        r15.intoArray(dst, out + 15 * dstStride);
    }

    /**
     * As {@link #block16} for 8-lane vectors (AVX2): the 8 x 8 block at {@code at} into {@code dst[out + c *
     * dstStride + i]}, in three stages over row pairs 4, 2 and 1 apart.
     */
    static void block8(float[] arr, MemorySegment seg, long at, long stride, float[] dst, int out, int dstStride) {
        FloatVector r0 = row(arr, seg, at);
        FloatVector r1 = row(arr, seg, at + stride);
        FloatVector r2 = row(arr, seg, at + 2 * stride);
        FloatVector r3 = row(arr, seg, at + 3 * stride);
        FloatVector r4 = row(arr, seg, at + 4 * stride);
        FloatVector r5 = row(arr, seg, at + 5 * stride);
        FloatVector r6 = row(arr, seg, at + 6 * stride);
        FloatVector r7 = row(arr, seg, at + 7 * stride);
        FloatVector t0;
        FloatVector t1;
        FloatVector lo0 = LO8[0];
        FloatVector hi0 = HI8[0];
        t0 = lo0.selectFrom(r0, r4); t1 = hi0.selectFrom(r0, r4); r0 = t0; r4 = t1;
        t0 = lo0.selectFrom(r1, r5); t1 = hi0.selectFrom(r1, r5); r1 = t0; r5 = t1;
        t0 = lo0.selectFrom(r2, r6); t1 = hi0.selectFrom(r2, r6); r2 = t0; r6 = t1;
        t0 = lo0.selectFrom(r3, r7); t1 = hi0.selectFrom(r3, r7); r3 = t0; r7 = t1;
        FloatVector lo1 = LO8[1];
        FloatVector hi1 = HI8[1];
        t0 = lo1.selectFrom(r0, r2); t1 = hi1.selectFrom(r0, r2); r0 = t0; r2 = t1;
        t0 = lo1.selectFrom(r1, r3); t1 = hi1.selectFrom(r1, r3); r1 = t0; r3 = t1;
        t0 = lo1.selectFrom(r4, r6); t1 = hi1.selectFrom(r4, r6); r4 = t0; r6 = t1;
        t0 = lo1.selectFrom(r5, r7); t1 = hi1.selectFrom(r5, r7); r5 = t0; r7 = t1;
        FloatVector lo2 = LO8[2];
        FloatVector hi2 = HI8[2];
        t0 = lo2.selectFrom(r0, r1); t1 = hi2.selectFrom(r0, r1); r0 = t0; r1 = t1;
        t0 = lo2.selectFrom(r2, r3); t1 = hi2.selectFrom(r2, r3); r2 = t0; r3 = t1;
        t0 = lo2.selectFrom(r4, r5); t1 = hi2.selectFrom(r4, r5); r4 = t0; r5 = t1;
        t0 = lo2.selectFrom(r6, r7); t1 = hi2.selectFrom(r6, r7); r6 = t0; r7 = t1;
        r0.intoArray(dst, out);
        r1.intoArray(dst, out + dstStride);
        r2.intoArray(dst, out + 2 * dstStride);
        r3.intoArray(dst, out + 3 * dstStride);
        r4.intoArray(dst, out + 4 * dstStride);
        r5.intoArray(dst, out + 5 * dstStride);
        r6.intoArray(dst, out + 6 * dstStride);
        r7.intoArray(dst, out + 7 * dstStride);
    }

    /** A vector of floats at {@code at} of {@code arr}, or of {@code seg} where {@code arr} is null. */
    private static FloatVector row(float[] arr, MemorySegment seg, long at) {
        return arr != null ? FloatVector.fromArray(F, arr, (int) at) : FloatVector.fromMemorySegment(F, seg, at * 4, LE);
    }

}
