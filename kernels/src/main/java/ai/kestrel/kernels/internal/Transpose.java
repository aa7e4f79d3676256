package ai.kestrel.kernels.internal;

import static ai.kestrel.kernels.Vec.F;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * 16 x 16 and 8 x 8 transposes in registers (16- and 8-lane vectors), for packing the GEMM's operands and the SSD's
 * chunk matrices (a package the module does not export: shared by kernel families, not an API).
 */
public final class Transpose {
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    private static final FloatVector[] LO = new FloatVector[4];
    private static final FloatVector[] HI = new FloatVector[4];
    private static final VectorMask<Float> ODD8 = F.length() == 8 ? VectorMask.fromLong(F, 0xAA) : null;
    private static final VectorMask<Float> PAIR8 = F.length() == 8 ? VectorMask.fromLong(F, 0xCC) : null;
    private static final VectorSpecies<Float> HALF = FloatVector.SPECIES_128;
    private static final VectorShuffle<Float> PAIRS8 = F.length() == 8 ? VectorShuffle.fromValues(F, 2, 3, 0, 1, 6, 7, 4, 5) : null;

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
    public static void block16(float[] arr, MemorySegment seg, long at, long stride, float[] dst, int out, int dstStride) {
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
     * dstStride + i]}. Single lanes swap between rows 1 apart by a 64-bit shift and a blend (no permute), pairs of
     * lanes between rows 2 apart by a permute and a blend per row, and the halves of rows 4 apart by the stores,
     * which write each row's halves to their places. On a Zen 3 core 23-27 ns a block against 35-44 for three
     * stages of two-vector selects (each two permutes and a blend), alternating in one JVM (2026-12-02).
     */
    public static void block8(float[] arr, MemorySegment seg, long at, long stride, float[] dst, int out, int dstStride) {
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
        // rows 1 apart swap odd and even lanes
        t0 = r0.blend(r1.reinterpretAsLongs().lanewise(VectorOperators.LSHL, 32).reinterpretAsFloats(), ODD8);
        t1 = r0.reinterpretAsLongs().lanewise(VectorOperators.LSHR, 32).reinterpretAsFloats().blend(r1, ODD8);
        r0 = t0;
        r1 = t1;
        t0 = r2.blend(r3.reinterpretAsLongs().lanewise(VectorOperators.LSHL, 32).reinterpretAsFloats(), ODD8);
        t1 = r2.reinterpretAsLongs().lanewise(VectorOperators.LSHR, 32).reinterpretAsFloats().blend(r3, ODD8);
        r2 = t0;
        r3 = t1;
        t0 = r4.blend(r5.reinterpretAsLongs().lanewise(VectorOperators.LSHL, 32).reinterpretAsFloats(), ODD8);
        t1 = r4.reinterpretAsLongs().lanewise(VectorOperators.LSHR, 32).reinterpretAsFloats().blend(r5, ODD8);
        r4 = t0;
        r5 = t1;
        t0 = r6.blend(r7.reinterpretAsLongs().lanewise(VectorOperators.LSHL, 32).reinterpretAsFloats(), ODD8);
        t1 = r6.reinterpretAsLongs().lanewise(VectorOperators.LSHR, 32).reinterpretAsFloats().blend(r7, ODD8);
        r6 = t0;
        r7 = t1;
        // rows 2 apart swap lane pairs
        t0 = r0.blend(r2.rearrange(PAIRS8), PAIR8); t1 = r0.rearrange(PAIRS8).blend(r2, PAIR8); r0 = t0; r2 = t1;
        t0 = r1.blend(r3.rearrange(PAIRS8), PAIR8); t1 = r1.rearrange(PAIRS8).blend(r3, PAIR8); r1 = t0; r3 = t1;
        t0 = r4.blend(r6.rearrange(PAIRS8), PAIR8); t1 = r4.rearrange(PAIRS8).blend(r6, PAIR8); r4 = t0; r6 = t1;
        t0 = r5.blend(r7.rearrange(PAIRS8), PAIR8); t1 = r5.rearrange(PAIRS8).blend(r7, PAIR8); r5 = t0; r7 = t1;
        // rows 4 apart swap halves: output row c is (low half of row c, low half of row c + 4), row c + 4 the high halves
        ((FloatVector) r0.reinterpretShape(HALF, 0)).intoArray(dst, out);
        ((FloatVector) r4.reinterpretShape(HALF, 0)).intoArray(dst, out + 4);
        ((FloatVector) r1.reinterpretShape(HALF, 0)).intoArray(dst, out + dstStride);
        ((FloatVector) r5.reinterpretShape(HALF, 0)).intoArray(dst, out + dstStride + 4);
        ((FloatVector) r2.reinterpretShape(HALF, 0)).intoArray(dst, out + 2 * dstStride);
        ((FloatVector) r6.reinterpretShape(HALF, 0)).intoArray(dst, out + 2 * dstStride + 4);
        ((FloatVector) r3.reinterpretShape(HALF, 0)).intoArray(dst, out + 3 * dstStride);
        ((FloatVector) r7.reinterpretShape(HALF, 0)).intoArray(dst, out + 3 * dstStride + 4);
        ((FloatVector) r0.reinterpretShape(HALF, 1)).intoArray(dst, out + 4 * dstStride);
        ((FloatVector) r4.reinterpretShape(HALF, 1)).intoArray(dst, out + 4 * dstStride + 4);
        ((FloatVector) r1.reinterpretShape(HALF, 1)).intoArray(dst, out + 5 * dstStride);
        ((FloatVector) r5.reinterpretShape(HALF, 1)).intoArray(dst, out + 5 * dstStride + 4);
        ((FloatVector) r2.reinterpretShape(HALF, 1)).intoArray(dst, out + 6 * dstStride);
        ((FloatVector) r6.reinterpretShape(HALF, 1)).intoArray(dst, out + 6 * dstStride + 4);
        ((FloatVector) r3.reinterpretShape(HALF, 1)).intoArray(dst, out + 7 * dstStride);
        ((FloatVector) r7.reinterpretShape(HALF, 1)).intoArray(dst, out + 7 * dstStride + 4);
    }

    /** A vector of floats at {@code at} of {@code arr}, or of {@code seg} where {@code arr} is null. */
    private static FloatVector row(float[] arr, MemorySegment seg, long at) {
        return arr != null ? FloatVector.fromArray(F, arr, (int) at) : FloatVector.fromMemorySegment(F, seg, at * 4, LE);
    }


    /**
     * {@code dst[c * rows + r] = src[so + r * cols + c]}: the {@code rows x cols} row-major matrix at {@code so}
     * transposed, by whole {@link #block16} or {@link #block8} blocks where the vectors have 16 or 8 lanes, the
     * edges (and everything with 4 lanes) one value at a time.
     */
    public static void matrix(float[] src, int so, int rows, int cols, float[] dst) {
        int b = F.length() == 16 || F.length() == 8 ? F.length() : 0;
        int rb = b == 0 ? 0 : rows / b * b;
        int cb = b == 0 ? 0 : cols / b * b;
        for (int r = 0; r < rb; r += b) {
            for (int c = 0; c < cb; c += b) {
                if (b == 16) {
                    block16(src, null, so + r * cols + c, cols, dst, c * rows + r, rows);
                } else {
                    block8(src, null, so + r * cols + c, cols, dst, c * rows + r, rows);
                }
            }
        }
        for (int r = 0; r < rows; r++) {
            for (int c = r < rb ? cb : 0; c < cols; c++) {
                dst[c * rows + r] = src[so + r * cols + c];
            }
        }
    }
}
