package ai.kestrel.kernels.matmul;

import static ai.kestrel.kernels.Vec.F;

import ai.kestrel.kernels.quant.Q8Activations;
import ai.kestrel.kernels.quant.WeightFormat;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * Single-row decode ({@code M = 1}): four weight rows dotted with {@code x} straight from their stored bytes,
 * converting in registers, one pass over memory (decoding into a tile first writes and re-reads every value);
 * each load of x serves the four rows.
 */
final class GemvFused {
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    private static final VectorSpecies<Integer> I = F.withLanes(int.class);
    private static final VectorSpecies<Byte> B = VectorSpecies.of(byte.class, VectorShape.forBitSize(Math.max(64, F.length() * 8)));
    private static final int B_PARTS = B.length() / F.length();
    private static final VectorSpecies<Short> S16 = ShortVector.SPECIES_256;

    private GemvFused() {
    }

    /**
     * Formats whose fused path beats decoding into a tile first: all of them, once the conversions are cheap
     * (BF16 and F16 by integer tricks on pairs of values, Q8_0 one block at a time).
     */
    static boolean fuses(WeightFormat f) {
        return f == WeightFormat.F32 || f == WeightFormat.BF16 || f == WeightFormat.F16 || f == WeightFormat.Q8_0
                || (f == WeightFormat.NF4 && (F.length() == 16 || F.length() == 8));
    }

    /**
     * What a single-row kernel reads of one row of x, written once per call by {@link #prepare}: floats in an array
     * ({@code f}), for Q8_0 with 8-lane vectors x's integers and block scales in two arrays ({@code q}, {@code d}),
     * or where a kernel reads a native buffer, that buffer ({@code seg}).
     */
    record PreparedX(MemorySegment seg, short[] q, float[] d, float[] f) {
        PreparedX(MemorySegment seg) {
            this(seg, null, null, null);
        }
    }

    /**
     * What the single-row kernel for {@code f} reads of {@code x}, written once per call: for Q8_0, x rounded as
     * ggml rounds it ({@link Q8Activations}), with 8-lane vectors as 16-bit integers and float scales in two arrays
     * for {@link #q8i16}, with 16-lane vectors as floats in an array for {@link #q8w16}, otherwise as floats into
     * {@code dst}; with 8-lane vectors, NF4's blocks of 64 in the order {@link #nf4w8} reads them, into {@code dst};
     * otherwise {@link #prepareRow}'s array (F32: x itself; BF16, F16 and NF4: its evens, then its odds). {@code dst}
     * holds at least {@link #preparedBytes} bytes and is 64-byte aligned. (A float[]'s elements start 16 bytes into
     * the object, so 64-byte loads from it straddle cache lines, and the float Q8_0 kernel of the first sessions ran
     * 12-15% slower reading x from one; the kernels now read arrays all the same and were measured faster (see
     * {@link #q8w16}). Decode 1280 -> 3072 at M = 1 on two threads, in cache: F32 121 against
     * 83-97 GB/s, BF16 105-115 against 88-100, F16 93-104 against 90-95; Zen 5, 2026-12-02.)
     */
    static PreparedX prepare(WeightFormat f, float[] x, int k, MemorySegment dst) {
        if (f == WeightFormat.Q8_0) {
            if (F.length() == 8) {
                short[] q = new short[k];
                float[] d = new float[k / WeightFormat.Q8_0_BLOCK];
                Q8Activations.quantize(x, 0, k, q, 0, d, 0);
                return new PreparedX(null, q, d, null);
            }
            if (F.length() == 16) {
                float[] rounded = new float[k];
                Q8Activations.round(x, 0, k, rounded, 0);
                return new PreparedX(null, null, null, rounded);
            }
            Q8Activations.round(x, 0, k, dst, 0);
            return new PreparedX(dst);
        }
        if (f == WeightFormat.NF4 && F.length() == 8) {
            order8(x, k, dst);
            return new PreparedX(dst);
        }
        // F32 reads x itself; BF16, F16 and NF4 (16 lanes) its evens, then its odds
        return new PreparedX(null, null, null, prepareRow(f, x, k));
    }

    /**
     * Bytes of {@code dst} {@link #prepare} writes for {@code k} elements of format {@code f}, a multiple of 64: x in
     * {@link #nf4w8}'s order for NF4 with 8-lane vectors, x rounded for Q8_0 with vectors of neither 8 nor 16 lanes;
     * none otherwise (the other kernels read arrays).
     */
    static long preparedBytes(WeightFormat f, int k) {
        boolean seg = (f == WeightFormat.NF4 && F.length() == 8)
                || (f == WeightFormat.Q8_0 && F.length() != 8 && F.length() != 16);
        return seg ? (k * 4L + 63) & ~63L : 0;
    }

    /**
     * Writes x into {@code dst} in the order the 8-lane NF4 kernel reads it: within a block of 64, position
     * {@code 8n + i} holds element {@code 2(4i + n/2)}, plus 1 for an even n (nibble n of int i, see {@link #nf4w8}).
     * Written as loops over a block's transpose: computing each element's source from its position cost ~1.4 us of a
     * 1.6 us call at k = 1280 (a serial step of every decode product; Zen 3, 2026-12-01).
     */
    static void order8(float[] x, int k, MemorySegment dst) {
        for (int b = 0; b + WeightFormat.NF4_BLOCK <= k; b += WeightFormat.NF4_BLOCK) {
            for (int n = 0; n < 8; n++) {
                int src = b + 2 * (n >> 1) + ((n & 1) == 1 ? 0 : 1);
                for (int i = 0; i < 8; i++) {
                    dst.setAtIndex(ValueLayout.JAVA_FLOAT, b + 8 * n + i, x[src + 8 * i]);
                }
            }
        }
    }

    /**
     * What the multi-row kernel ({@link #rows}) reads of one row of x: for NF4 with 8-lane vectors, each block of 64
     * in {@link #nf4w8}'s order; for BF16, F16 and NF4 otherwise its even elements, then its odd ones; for the other
     * formats {@code x} itself.
     */
    static float[] prepareRow(WeightFormat f, float[] x, int k) {
        if (f == WeightFormat.NF4 && F.length() == 8) {
            float[] xp = new float[k];
            order8(x, k, MemorySegment.ofArray(xp));
            return xp;
        }
        if (f != WeightFormat.BF16 && f != WeightFormat.F16 && f != WeightFormat.NF4) {
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
     * {@code out[r] = x · the weight row at byte row0 + r * stride}, for r < 4; {@code k} elements each;
     * {@code xp} is {@link #prepare}'s result for {@code x}. The caller picks the stride: rows far apart (each
     * of the four a stream of its own, see {@code Gemv}) or one row length. {@code acc}: the caller's scratch of
     * {@link #ACC_FLOATS} floats, which a kernel may overwrite (so that none allocates per call).
     */
    static void dot4(WeightFormat f, MemorySegment w, long row0, long stride, float[] x, PreparedX xp, int k, float[] out,
            float[] acc) {
        switch (f) {
            case F32 -> f32(w, row0, stride, x, k, out);
            case BF16 -> bf16(w, row0, stride, x, xp.f(), k, out);
            case F16 -> f16(w, row0, stride, x, xp.f(), k, out);
            case Q8_0 -> {
                if (xp.q() != null) {
                    q8i16(w, row0, stride, xp.q(), xp.d(), k, out);
                } else if (xp.f() != null) {
                    q8w16(w, row0, stride, xp.f(), k, out);
                } else {
                    q8(w, row0, stride, xp.seg(), k, out);
                }
            }
            case NF4 -> {
                if (xp.f() != null) {
                    nf4w16(w, row0, stride, xp.f(), k, out);
                } else {
                    nf4w8(w, row0, stride, xp.seg(), k, out, acc);
                }
            }
            case F64 -> throw new IllegalArgumentException(f + " weights do not take the fused path");
        }
    }

    private static void f32(MemorySegment w, long r0, long rb, float[] x, int k, float[] out) {
        long len = k * 4L;
        MemorySegment w0 = w.asSlice(r0, len), w1 = w.asSlice(r0 + rb, len);
        MemorySegment w2 = w.asSlice(r0 + 2 * rb, len), w3 = w.asSlice(r0 + 3 * rb, len);
        FloatVector a0 = FloatVector.zero(F), a1 = FloatVector.zero(F), a2 = FloatVector.zero(F), a3 = FloatVector.zero(F);
        int i = 0;
        for (int bound = F.loopBound(k); i < bound; i += F.length()) {
            FloatVector xv = FloatVector.fromArray(F, x, i);
            long o = i * 4L;
            a0 = FloatVector.fromMemorySegment(F, w0, o, LE).fma(xv, a0);
            a1 = FloatVector.fromMemorySegment(F, w1, o, LE).fma(xv, a1);
            a2 = FloatVector.fromMemorySegment(F, w2, o, LE).fma(xv, a2);
            a3 = FloatVector.fromMemorySegment(F, w3, o, LE).fma(xv, a3);
        }
        out[0] = a0.reduceLanes(VectorOperators.ADD);
        out[1] = a1.reduceLanes(VectorOperators.ADD);
        out[2] = a2.reduceLanes(VectorOperators.ADD);
        out[3] = a3.reduceLanes(VectorOperators.ADD);
        for (; i < k; i++) {
            for (int r = 0; r < 4; r++) {
                out[r] += x[i] * w.get(ValueLayout.JAVA_FLOAT_UNALIGNED, r0 + r * rb + i * 4L);
            }
        }
    }

    /**
     * The 32-bit lanes (bf16 pairs) one run of {@link #bf16}'s inner loop covers: 32 iterations. C2 sizes its
     * unrolling by the loop's profiled trip count: over a whole row of 3072 (the MLP's down projection) it unrolled
     * eight times and spilled the accumulators to the stack on every iteration (59 against 111-136 GB/s at k up to
     * 2048, in cache; 34 against 49 GB/s from DRAM). An inner loop of at most 32 iterations is unrolled four times
     * whatever the row's length.
     */
    private static final int BF16_SPAN = 32 * I.length();

    /**
     * BF16 without lane conversions, four rows {@code rb} bytes apart: each 32-bit lane of a weight row holds an
     * (even, odd) pair of bf16 values, the even one in the low half. {@code lane << 16} is the even element as a
     * float and {@code lane & 0xFFFF0000} the odd one, so two integer operations per pair feed two FMAs against
     * {@code x}'s even and odd elements ({@code xp}: evens, then odds), which are loaded once for the four rows.
     */
    private static void bf16(MemorySegment w, long r0, long rb, float[] x, float[] xp, int k, float[] out) {
        FloatVector a0 = FloatVector.zero(F), a1 = FloatVector.zero(F), a2 = FloatVector.zero(F), a3 = FloatVector.zero(F);
        FloatVector b0 = FloatVector.zero(F), b1 = FloatVector.zero(F), b2 = FloatVector.zero(F), b3 = FloatVector.zero(F);
        int h = k / 2;
        long len = h * 4L;
        MemorySegment w0 = w.asSlice(r0, len), w1 = w.asSlice(r0 + rb, len);
        MemorySegment w2 = w.asSlice(r0 + 2 * rb, len), w3 = w.asSlice(r0 + 3 * rb, len);
        int bound = I.loopBound(h);
        int i = 0;
        for (int c = 0; c < bound; c += BF16_SPAN) {
            int end = Math.min(bound, c + BF16_SPAN);
            for (i = c; i < end; i += I.length()) {
                long xi = i * 4L;
                FloatVector xe = FloatVector.fromArray(F, xp, i);
                FloatVector xo = FloatVector.fromArray(F, xp, h + i);
                IntVector v0 = IntVector.fromMemorySegment(I, w0, xi, LE);
                IntVector v1 = IntVector.fromMemorySegment(I, w1, xi, LE);
                IntVector v2 = IntVector.fromMemorySegment(I, w2, xi, LE);
                IntVector v3 = IntVector.fromMemorySegment(I, w3, xi, LE);
                a0 = v0.lanewise(VectorOperators.LSHL, 16).viewAsFloatingLanes().fma(xe, a0);
                b0 = v0.and(0xFFFF0000).viewAsFloatingLanes().fma(xo, b0);
                a1 = v1.lanewise(VectorOperators.LSHL, 16).viewAsFloatingLanes().fma(xe, a1);
                b1 = v1.and(0xFFFF0000).viewAsFloatingLanes().fma(xo, b1);
                a2 = v2.lanewise(VectorOperators.LSHL, 16).viewAsFloatingLanes().fma(xe, a2);
                b2 = v2.and(0xFFFF0000).viewAsFloatingLanes().fma(xo, b2);
                a3 = v3.lanewise(VectorOperators.LSHL, 16).viewAsFloatingLanes().fma(xe, a3);
                b3 = v3.and(0xFFFF0000).viewAsFloatingLanes().fma(xo, b3);
            }
        }
        out[0] = a0.add(b0).reduceLanes(VectorOperators.ADD);
        out[1] = a1.add(b1).reduceLanes(VectorOperators.ADD);
        out[2] = a2.add(b2).reduceLanes(VectorOperators.ADD);
        out[3] = a3.add(b3).reduceLanes(VectorOperators.ADD);
        for (int j = 2 * i; j < k; j++) {
            for (int r = 0; r < 4; r++) {
                out[r] += x[j] * Float.intBitsToFloat((w.get(ValueLayout.JAVA_SHORT_UNALIGNED, r0 + r * rb + j * 2L) & 0xffff) << 16);
            }
        }
    }

    /** The float bits of the half in a lane's low 16 bits, scaled by 2^-112 (see {@link #f16}). */
    private static final int F16_KEEP = 0x8FFFE000;
    /** Adding one to a half's exponent field carries into its sign bit exactly when the exponent is all ones. */
    private static final int F16_EXP = 0x7C007C00;
    private static final int F16_EXP_ONE = 0x04000400;
    private static final int F16_CARRY = 0x80008000;

    /**
     * F16 by the same pairing as {@link #bf16}, four rows {@code rb} bytes apart. A half's sign, exponent and
     * mantissa moved into float position ({@code sign | (bits & 0x7FFF) << 13}) read as the float {@code h·2^-112}
     * for normal and subnormal halves alike, so an arithmetic shift right by 3 and one mask convert a half
     * ({@code (lane << 16) >> 3} for the even one, {@code lane >> 3} for the odd one), and the sums are scaled by
     * 2^112 at the end. Infinities and NaNs do not survive that shortcut: a carry test flags the four rows when
     * one holds one, and they are recomputed value by value.
     */
    private static void f16(MemorySegment w, long r0, long rb, float[] x, float[] xp, int k, float[] out) {
        FloatVector a0 = FloatVector.zero(F), a1 = FloatVector.zero(F), a2 = FloatVector.zero(F), a3 = FloatVector.zero(F);
        FloatVector b0 = FloatVector.zero(F), b1 = FloatVector.zero(F), b2 = FloatVector.zero(F), b3 = FloatVector.zero(F);
        IntVector special = IntVector.zero(I);
        int h = k / 2;
        long len = h * 4L;
        MemorySegment w0 = w.asSlice(r0, len), w1 = w.asSlice(r0 + rb, len);
        MemorySegment w2 = w.asSlice(r0 + 2 * rb, len), w3 = w.asSlice(r0 + 3 * rb, len);
        int i = 0;
        for (int bound = I.loopBound(h); i < bound; i += I.length()) {
            long xi = i * 4L;
            FloatVector xe = FloatVector.fromArray(F, xp, i);
            FloatVector xo = FloatVector.fromArray(F, xp, h + i);
            IntVector v0 = IntVector.fromMemorySegment(I, w0, xi, LE);
            IntVector v1 = IntVector.fromMemorySegment(I, w1, xi, LE);
            IntVector v2 = IntVector.fromMemorySegment(I, w2, xi, LE);
            IntVector v3 = IntVector.fromMemorySegment(I, w3, xi, LE);
            a0 = v0.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 3).and(F16_KEEP).viewAsFloatingLanes().fma(xe, a0);
            b0 = v0.lanewise(VectorOperators.ASHR, 3).and(F16_KEEP).viewAsFloatingLanes().fma(xo, b0);
            a1 = v1.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 3).and(F16_KEEP).viewAsFloatingLanes().fma(xe, a1);
            b1 = v1.lanewise(VectorOperators.ASHR, 3).and(F16_KEEP).viewAsFloatingLanes().fma(xo, b1);
            a2 = v2.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 3).and(F16_KEEP).viewAsFloatingLanes().fma(xe, a2);
            b2 = v2.lanewise(VectorOperators.ASHR, 3).and(F16_KEEP).viewAsFloatingLanes().fma(xo, b2);
            a3 = v3.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 3).and(F16_KEEP).viewAsFloatingLanes().fma(xe, a3);
            b3 = v3.lanewise(VectorOperators.ASHR, 3).and(F16_KEEP).viewAsFloatingLanes().fma(xo, b3);
            special = special.or(v0.and(F16_EXP).add(F16_EXP_ONE)).or(v1.and(F16_EXP).add(F16_EXP_ONE))
                    .or(v2.and(F16_EXP).add(F16_EXP_ONE)).or(v3.and(F16_EXP).add(F16_EXP_ONE));
        }
        out[0] = a0.add(b0).reduceLanes(VectorOperators.ADD) * 0x1p112f;
        out[1] = a1.add(b1).reduceLanes(VectorOperators.ADD) * 0x1p112f;
        out[2] = a2.add(b2).reduceLanes(VectorOperators.ADD) * 0x1p112f;
        out[3] = a3.add(b3).reduceLanes(VectorOperators.ADD) * 0x1p112f;
        for (int j = 2 * i; j < k; j++) {
            for (int r = 0; r < 4; r++) {
                out[r] += x[j] * Float.float16ToFloat(w.get(ValueLayout.JAVA_SHORT_UNALIGNED, r0 + r * rb + j * 2L));
            }
        }
        if ((special.reduceLanes(VectorOperators.OR) & F16_CARRY) != 0) {
            for (int r = 0; r < 4; r++) {
                float sum = 0;
                for (int j = 0; j < k; j++) {
                    sum += x[j] * Float.float16ToFloat(w.get(ValueLayout.JAVA_SHORT_UNALIGNED, r0 + r * rb + j * 2L));
                }
                out[r] = sum;
            }
        }
    }

    /**
     * Four Q8_0 rows {@code rb} bytes apart, one block of each per iteration: x is read once for the four. Per block
     * and row, the int8 values times x are summed in a block accumulator that one FMA scales by the block's
     * {@code d} into the row's (one FMA per block, not per value). Offsets are longs computed from the loop index
     * (a second induction variable, or an int offset widened inside the loop, kept C2 from removing the bounds
     * checks of the old one-row loop).
     */
    private static void q8(MemorySegment w, long r0, long rb, MemorySegment x, int k, float[] out) {
        FloatVector a0 = FloatVector.zero(F), a1 = FloatVector.zero(F), a2 = FloatVector.zero(F), a3 = FloatVector.zero(F);
        int blocks = k / WeightFormat.Q8_0_BLOCK;
        long r1 = r0 + rb, r2 = r1 + rb, r3 = r2 + rb;
        for (int b = 0; b < blocks; b++) {
            long o = b * 34L;
            long xo = b * (WeightFormat.Q8_0_BLOCK * 4L);
            FloatVector s0 = FloatVector.zero(F), s1 = FloatVector.zero(F), s2 = FloatVector.zero(F), s3 = FloatVector.zero(F);
            for (int j = 0; j < WeightFormat.Q8_0_BLOCK; j += B.length()) {
                ByteVector q0 = ByteVector.fromMemorySegment(B, w, r0 + o + 2 + j, LE);
                ByteVector q1 = ByteVector.fromMemorySegment(B, w, r1 + o + 2 + j, LE);
                ByteVector q2 = ByteVector.fromMemorySegment(B, w, r2 + o + 2 + j, LE);
                ByteVector q3 = ByteVector.fromMemorySegment(B, w, r3 + o + 2 + j, LE);
                for (int p = 0; p < B_PARTS; p++) {
                    FloatVector xv = FloatVector.fromMemorySegment(F, x, xo + (j + p * F.length()) * 4L, LE);
                    s0 = ((FloatVector) q0.convertShape(VectorOperators.B2F, F, p)).fma(xv, s0);
                    s1 = ((FloatVector) q1.convertShape(VectorOperators.B2F, F, p)).fma(xv, s1);
                    s2 = ((FloatVector) q2.convertShape(VectorOperators.B2F, F, p)).fma(xv, s2);
                    s3 = ((FloatVector) q3.convertShape(VectorOperators.B2F, F, p)).fma(xv, s3);
                }
            }
            a0 = s0.fma(q8Scale(w, r0 + o), a0);
            a1 = s1.fma(q8Scale(w, r1 + o), a1);
            a2 = s2.fma(q8Scale(w, r2 + o), a2);
            a3 = s3.fma(q8Scale(w, r3 + o), a3);
        }
        out[0] = a0.reduceLanes(VectorOperators.ADD);
        out[1] = a1.reduceLanes(VectorOperators.ADD);
        out[2] = a2.reduceLanes(VectorOperators.ADD);
        out[3] = a3.reduceLanes(VectorOperators.ADD);
    }

    /**
     * {@link #q8} for 512-bit vectors (a block is two 16-byte loads), written out: each row's block sum starts with a
     * multiply instead of an FMA into a zero vector, which C2 compiled to a register copy per row and block. 1.03x
     * on the lm_head product from DRAM (10 of 12 alternating rounds), 1.01x over sixteen 1280x3072 matrices (9 of 12).
     * As {@link #q8i16} learned on AVX2, each row is its own slice indexed from 0, the scales are looked up inline
     * and x (rounded, {@link #prepare}) comes from an array, instead of offsets into the whole weight and x in a
     * native buffer. Alternating in one JVM (Zen 5, 2026-12-02): 1.17-1.28x on one thread over 1024 rows (from L3),
     * 1.01-1.27x on lm_head from DRAM (two threads); bench/HISTORY.md, twenty-fourth session. Not explained by the
     * instruction count: as C2 compiles them the old loop is ~60 instructions per block of four rows (row addresses
     * reloaded from stack slots), the new one ~66 (it keeps bounds checks on the slices' loads).
     */
    private static void q8w16(MemorySegment w, long r0, long rb, float[] x, int k, float[] out) {
        int blocks = k / WeightFormat.Q8_0_BLOCK;
        long len = blocks * 34L;
        MemorySegment w0 = w.asSlice(r0, len), w1 = w.asSlice(r0 + rb, len);
        MemorySegment w2 = w.asSlice(r0 + 2 * rb, len), w3 = w.asSlice(r0 + 3 * rb, len);
        FloatVector a0 = FloatVector.zero(F), a1 = FloatVector.zero(F), a2 = FloatVector.zero(F), a3 = FloatVector.zero(F);
        for (int b = 0; b < blocks; b++) {
            long o = b * 34L;
            int xo = b * WeightFormat.Q8_0_BLOCK;
            FloatVector xa = FloatVector.fromArray(F, x, xo);
            FloatVector xb = FloatVector.fromArray(F, x, xo + 16);
            FloatVector s0 = ((FloatVector) ByteVector.fromMemorySegment(B, w0, o + 2, LE).convertShape(VectorOperators.B2F, F, 0)).mul(xa);
            FloatVector s1 = ((FloatVector) ByteVector.fromMemorySegment(B, w1, o + 2, LE).convertShape(VectorOperators.B2F, F, 0)).mul(xa);
            FloatVector s2 = ((FloatVector) ByteVector.fromMemorySegment(B, w2, o + 2, LE).convertShape(VectorOperators.B2F, F, 0)).mul(xa);
            FloatVector s3 = ((FloatVector) ByteVector.fromMemorySegment(B, w3, o + 2, LE).convertShape(VectorOperators.B2F, F, 0)).mul(xa);
            s0 = ((FloatVector) ByteVector.fromMemorySegment(B, w0, o + 18, LE).convertShape(VectorOperators.B2F, F, 0)).fma(xb, s0);
            s1 = ((FloatVector) ByteVector.fromMemorySegment(B, w1, o + 18, LE).convertShape(VectorOperators.B2F, F, 0)).fma(xb, s1);
            s2 = ((FloatVector) ByteVector.fromMemorySegment(B, w2, o + 18, LE).convertShape(VectorOperators.B2F, F, 0)).fma(xb, s2);
            s3 = ((FloatVector) ByteVector.fromMemorySegment(B, w3, o + 18, LE).convertShape(VectorOperators.B2F, F, 0)).fma(xb, s3);
            a0 = s0.fma(FloatVector.broadcast(F, F16[w0.get(ValueLayout.JAVA_SHORT_UNALIGNED, o) & 0xffff]), a0);
            a1 = s1.fma(FloatVector.broadcast(F, F16[w1.get(ValueLayout.JAVA_SHORT_UNALIGNED, o) & 0xffff]), a1);
            a2 = s2.fma(FloatVector.broadcast(F, F16[w2.get(ValueLayout.JAVA_SHORT_UNALIGNED, o) & 0xffff]), a2);
            a3 = s3.fma(FloatVector.broadcast(F, F16[w3.get(ValueLayout.JAVA_SHORT_UNALIGNED, o) & 0xffff]), a3);
        }
        out[0] = a0.reduceLanes(VectorOperators.ADD);
        out[1] = a1.reduceLanes(VectorOperators.ADD);
        out[2] = a2.reduceLanes(VectorOperators.ADD);
        out[3] = a3.reduceLanes(VectorOperators.ADD);
    }

    /**
     * {@link #q8} for 256-bit vectors (AVX2), in integers, as ggml computes it: x arrives rounded to Q8_0
     * ({@link Q8Activations}: per block 32 int8 as 16-bit integers in {@code xq}, one float scale in {@code xd}).
     * Per row and block, the 32 weight bytes are sign-extended to 16 bits in two halves
     * ({@code vpmovsxbw}), multiplied by x's integers ({@code vpmullw}; |w·x| <= 128·127) and the halves added (a
     * lane's two products stay under 2^15); each 32-bit lane's two 16-bit sums are then split by shifts and added,
     * converted to float once and scaled by the product of the two blocks' scales. Against the float kernel it
     * replaced (one 32-byte load, seven shifts, four conversions and four FMAs per row and block, with x in float):
     * 105 against 122 instructions per block of four rows; in one JVM alternating, 1.15x on one thread in cache,
     * 1.04x and 1.14x on lm_head from DRAM, 1.03x on decode steps (Zen 3, 2026-12-01; see bench/HISTORY.md,
     * seventeenth session).
     *
     * <p>From the float kernel's history, which carries over: each row is its own slice of the weight, indexed
     * from 0 (offsets {@code r0 + i * rb} into the whole weight kept C2's bounds checks in the loop, 0.8x); the
     * scales are looked up inline (through {@link #q8Scale}, past C2's inlining budget, every vector was boxed).
     * x is read from arrays, not from a native buffer: with the buffer C2 kept x's base and offsets in stack
     * slots (the loop held 4 rows' slice addresses, two limits, the table and x), ~100 instructions per block of
     * four rows; see bench/HISTORY.md, twenty-second session, for what arrays changed.
     */
    private static void q8i16(MemorySegment w, long r0, long rb, short[] xq, float[] xd, int k, float[] out) {
        int blocks = k / WeightFormat.Q8_0_BLOCK;
        long len = blocks * 34L;
        MemorySegment w0 = w.asSlice(r0, len), w1 = w.asSlice(r0 + rb, len);
        MemorySegment w2 = w.asSlice(r0 + 2 * rb, len), w3 = w.asSlice(r0 + 3 * rb, len);
        FloatVector a0 = FloatVector.zero(F), a1 = FloatVector.zero(F), a2 = FloatVector.zero(F), a3 = FloatVector.zero(F);
        for (int b = 0; b < blocks; b++) {
            long o = b * 34L + 2;
            int xo = b * WeightFormat.Q8_0_BLOCK;
            float d = xd[b];
            ShortVector x0 = ShortVector.fromArray(S16, xq, xo);
            ShortVector x1 = ShortVector.fromArray(S16, xq, xo + 16);
            IntVector p0 = ((ShortVector) ByteVector.fromMemorySegment(B128, w0, o, LE).convertShape(VectorOperators.B2S, S16, 0)).mul(x0)
                    .add(((ShortVector) ByteVector.fromMemorySegment(B128, w0, o + 16, LE).convertShape(VectorOperators.B2S, S16, 0)).mul(x1))
                    .reinterpretAsInts();
            IntVector p1 = ((ShortVector) ByteVector.fromMemorySegment(B128, w1, o, LE).convertShape(VectorOperators.B2S, S16, 0)).mul(x0)
                    .add(((ShortVector) ByteVector.fromMemorySegment(B128, w1, o + 16, LE).convertShape(VectorOperators.B2S, S16, 0)).mul(x1))
                    .reinterpretAsInts();
            IntVector p2 = ((ShortVector) ByteVector.fromMemorySegment(B128, w2, o, LE).convertShape(VectorOperators.B2S, S16, 0)).mul(x0)
                    .add(((ShortVector) ByteVector.fromMemorySegment(B128, w2, o + 16, LE).convertShape(VectorOperators.B2S, S16, 0)).mul(x1))
                    .reinterpretAsInts();
            IntVector p3 = ((ShortVector) ByteVector.fromMemorySegment(B128, w3, o, LE).convertShape(VectorOperators.B2S, S16, 0)).mul(x0)
                    .add(((ShortVector) ByteVector.fromMemorySegment(B128, w3, o + 16, LE).convertShape(VectorOperators.B2S, S16, 0)).mul(x1))
                    .reinterpretAsInts();
            p0 = p0.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 16).add(p0.lanewise(VectorOperators.ASHR, 16));
            p1 = p1.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 16).add(p1.lanewise(VectorOperators.ASHR, 16));
            p2 = p2.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 16).add(p2.lanewise(VectorOperators.ASHR, 16));
            p3 = p3.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 16).add(p3.lanewise(VectorOperators.ASHR, 16));
            a0 = ((FloatVector) p0.convert(VectorOperators.I2F, 0)).fma(FloatVector.broadcast(F, F16[w0.get(ValueLayout.JAVA_SHORT_UNALIGNED, o - 2) & 0xffff] * d), a0);
            a1 = ((FloatVector) p1.convert(VectorOperators.I2F, 0)).fma(FloatVector.broadcast(F, F16[w1.get(ValueLayout.JAVA_SHORT_UNALIGNED, o - 2) & 0xffff] * d), a1);
            a2 = ((FloatVector) p2.convert(VectorOperators.I2F, 0)).fma(FloatVector.broadcast(F, F16[w2.get(ValueLayout.JAVA_SHORT_UNALIGNED, o - 2) & 0xffff] * d), a2);
            a3 = ((FloatVector) p3.convert(VectorOperators.I2F, 0)).fma(FloatVector.broadcast(F, F16[w3.get(ValueLayout.JAVA_SHORT_UNALIGNED, o - 2) & 0xffff] * d), a3);
        }
        out[0] = a0.reduceLanes(VectorOperators.ADD);
        out[1] = a1.reduceLanes(VectorOperators.ADD);
        out[2] = a2.reduceLanes(VectorOperators.ADD);
        out[3] = a3.reduceLanes(VectorOperators.ADD);
    }

    /**
     * {@link #q8x4} for 8-lane vectors, written out with the scales looked up inline (as {@link #q8i16}: the
     * generic loop ran 5.3 GB/s on 1280 x 3072 with four rows of x, against 16.4 for BF16, on a Zen 3 pair).
     */
    private static void q8x4w8(MemorySegment w, long r0, long rb, float[][] x, int k, float[] out, int o) {
        float[] x0 = x[0], x1 = x[1], x2 = x[2], x3 = x[3];
        FloatVector a00 = FloatVector.zero(F), a01 = FloatVector.zero(F), a10 = FloatVector.zero(F), a11 = FloatVector.zero(F);
        FloatVector a20 = FloatVector.zero(F), a21 = FloatVector.zero(F), a30 = FloatVector.zero(F), a31 = FloatVector.zero(F);
        int blocks = k / WeightFormat.Q8_0_BLOCK;
        for (int b = 0; b < blocks; b++) {
            long o0 = r0 + b * 34L;
            long o1 = o0 + rb;
            FloatVector d0 = FloatVector.broadcast(F, F16[w.get(ValueLayout.JAVA_SHORT_UNALIGNED, o0) & 0xffff]);
            FloatVector d1 = FloatVector.broadcast(F, F16[w.get(ValueLayout.JAVA_SHORT_UNALIGNED, o1) & 0xffff]);
            int xo = b * WeightFormat.Q8_0_BLOCK;
            FloatVector w0;
            FloatVector w1;
            FloatVector xv;
            w0 = ((FloatVector) ByteVector.fromMemorySegment(B, w, o0 + 2, LE).convertShape(VectorOperators.B2F, F, 0)).mul(d0);
            w1 = ((FloatVector) ByteVector.fromMemorySegment(B, w, o1 + 2, LE).convertShape(VectorOperators.B2F, F, 0)).mul(d1);
            xv = FloatVector.fromArray(F, x0, xo);
            a00 = w0.fma(xv, a00);
            a01 = w1.fma(xv, a01);
            xv = FloatVector.fromArray(F, x1, xo);
            a10 = w0.fma(xv, a10);
            a11 = w1.fma(xv, a11);
            xv = FloatVector.fromArray(F, x2, xo);
            a20 = w0.fma(xv, a20);
            a21 = w1.fma(xv, a21);
            xv = FloatVector.fromArray(F, x3, xo);
            a30 = w0.fma(xv, a30);
            a31 = w1.fma(xv, a31);
            w0 = ((FloatVector) ByteVector.fromMemorySegment(B, w, o0 + 10, LE).convertShape(VectorOperators.B2F, F, 0)).mul(d0);
            w1 = ((FloatVector) ByteVector.fromMemorySegment(B, w, o1 + 10, LE).convertShape(VectorOperators.B2F, F, 0)).mul(d1);
            xv = FloatVector.fromArray(F, x0, xo + 8);
            a00 = w0.fma(xv, a00);
            a01 = w1.fma(xv, a01);
            xv = FloatVector.fromArray(F, x1, xo + 8);
            a10 = w0.fma(xv, a10);
            a11 = w1.fma(xv, a11);
            xv = FloatVector.fromArray(F, x2, xo + 8);
            a20 = w0.fma(xv, a20);
            a21 = w1.fma(xv, a21);
            xv = FloatVector.fromArray(F, x3, xo + 8);
            a30 = w0.fma(xv, a30);
            a31 = w1.fma(xv, a31);
            w0 = ((FloatVector) ByteVector.fromMemorySegment(B, w, o0 + 18, LE).convertShape(VectorOperators.B2F, F, 0)).mul(d0);
            w1 = ((FloatVector) ByteVector.fromMemorySegment(B, w, o1 + 18, LE).convertShape(VectorOperators.B2F, F, 0)).mul(d1);
            xv = FloatVector.fromArray(F, x0, xo + 16);
            a00 = w0.fma(xv, a00);
            a01 = w1.fma(xv, a01);
            xv = FloatVector.fromArray(F, x1, xo + 16);
            a10 = w0.fma(xv, a10);
            a11 = w1.fma(xv, a11);
            xv = FloatVector.fromArray(F, x2, xo + 16);
            a20 = w0.fma(xv, a20);
            a21 = w1.fma(xv, a21);
            xv = FloatVector.fromArray(F, x3, xo + 16);
            a30 = w0.fma(xv, a30);
            a31 = w1.fma(xv, a31);
            w0 = ((FloatVector) ByteVector.fromMemorySegment(B, w, o0 + 26, LE).convertShape(VectorOperators.B2F, F, 0)).mul(d0);
            w1 = ((FloatVector) ByteVector.fromMemorySegment(B, w, o1 + 26, LE).convertShape(VectorOperators.B2F, F, 0)).mul(d1);
            xv = FloatVector.fromArray(F, x0, xo + 24);
            a00 = w0.fma(xv, a00);
            a01 = w1.fma(xv, a01);
            xv = FloatVector.fromArray(F, x1, xo + 24);
            a10 = w0.fma(xv, a10);
            a11 = w1.fma(xv, a11);
            xv = FloatVector.fromArray(F, x2, xo + 24);
            a20 = w0.fma(xv, a20);
            a21 = w1.fma(xv, a21);
            xv = FloatVector.fromArray(F, x3, xo + 24);
            a30 = w0.fma(xv, a30);
            a31 = w1.fma(xv, a31);
        }
        out[o] = a00.reduceLanes(VectorOperators.ADD);
        out[o + 1] = a01.reduceLanes(VectorOperators.ADD);
        out[4 + o] = a10.reduceLanes(VectorOperators.ADD);
        out[4 + o + 1] = a11.reduceLanes(VectorOperators.ADD);
        out[8 + o] = a20.reduceLanes(VectorOperators.ADD);
        out[8 + o + 1] = a21.reduceLanes(VectorOperators.ADD);
        out[12 + o] = a30.reduceLanes(VectorOperators.ADD);
        out[12 + o + 1] = a31.reduceLanes(VectorOperators.ADD);
    }

    /** The 16 NF4 code values as two 8-lane vectors (codes 0-7 and 8-15), for {@link #nf4w8}. */
    private static final FloatVector NF4_LO8 = F.length() == 8 ? FloatVector.fromArray(F, ai.kestrel.kernels.quant.Nf4.code(), 0) : null;
    private static final FloatVector NF4_HI8 = F.length() == 8 ? FloatVector.fromArray(F, ai.kestrel.kernels.quant.Nf4.code(), 8) : null;

    private static final IntVector NF4_LO8I = F.length() == 8 ? NF4_LO8.reinterpretAsInts() : null;
    private static final IntVector NF4_HI8I = F.length() == 8 ? NF4_HI8.reinterpretAsInts() : null;

    /**
     * {@link #nf4w16} for 8-lane vectors (AVX2). A block's 32 code bytes are one 32-byte load per row, read as 8 ints of
     * 8 codes each; nibble n of every int ({@code q >>> 4n}) indexes the 16-entry table held in two vectors of its
     * bits (each half permuted by the index's low three bits, {@code vpermd}; the two blended on its fourth bit,
     * moved to the sign by {@code q << 28 - 4n}). Nibble n of int i is element {@code 2(4i + n/2)}, plus 1 for an
     * even n (a byte's high nibble is its even element): {@link #prepare} put x in that order. Each row's block is
     * summed on its own, x reloaded from L1 per row, the four rows a loop whose accumulators live in the caller's
     * {@code acc} (with the four rows side by side C2 spilled their accumulators; written out one after the other,
     * 0.85-0.94x; with a slice per row and the accumulators allocated per call, 0.89-0.93x and 340 bytes of garbage
     * per call).
     * Against the kernel before it (8-byte loads widened to ints, the low and high nibbles of each byte looked up
     * through {@code toShuffle()}, whose index wrapping C2 did not remove), in one JVM alternating, 1280 x 3072 and
     * lm_head on two threads: 2.1 -> 4.4 and 2.1 -> 3.9 GB/s (2.1x and 2.0x, faster in 10 of 10 rounds; Zen 3,
     * 2026-12-01). Still bound by the lookups: two lane-crossing permutes per 8 values. Before any 8-lane kernel,
     * NF4 rows were decoded into a scratch row first (1.5-1.7 GB/s). Written with the loop over the nibbles kept:
     * a kernel written out in full was too large for C1 (which gave up, so C2 never got a profile and the calls ran
     * interpreted, 0.1 GB/s), and through a helper returning the looked-up vector that vector was boxed (0.6 GB/s).
     * A two-vector {@code selectFrom} is not intrinsified on AVX2. The eight nibbles' FMAs go to two partial sums
     * (even and odd n): into one, they were a chain of eight dependent FMAs per row and block, where a profile put
     * most of the loop's samples (1.10-1.15x on one thread in cache, 1.05-1.07x on lm_head with two; Zen 3,
     * 2026-12-02).
     */
    private static void nf4w8(MemorySegment w, long r0, long rb, MemorySegment xp, int k, float[] out, float[] acc) {
        int blocks = k / WeightFormat.NF4_BLOCK;
        IntVector lo = NF4_LO8I, hi = NF4_HI8I;
        java.util.Arrays.fill(acc, 0, 4 * F.length(), 0f);
        for (int b = 0; b < blocks; b++) {
            for (int r = 0; r < 4; r++) {
                long o = r0 + r * rb + b * 36L;
                IntVector q = IntVector.fromMemorySegment(I, w, o + 4, LE);
                FloatVector s0 = FloatVector.zero(F);
                FloatVector s1 = FloatVector.zero(F);
                for (int n = 0; n < 8; n += 2) {
                    int sh = 4 * n;
                    IntVector i = q.lanewise(VectorOperators.LSHR, sh);
                    VectorMask<Integer> upper = q.lanewise(VectorOperators.LSHL, 28 - sh).compare(VectorOperators.LT, 0);
                    s0 = i.selectFrom(lo).blend(i.selectFrom(hi), upper).reinterpretAsFloats()
                            .fma(FloatVector.fromMemorySegment(F, xp, b * 256L + n * 32L, LE), s0);
                    IntVector j = q.lanewise(VectorOperators.LSHR, sh + 4);
                    VectorMask<Integer> upper1 = q.lanewise(VectorOperators.LSHL, 24 - sh).compare(VectorOperators.LT, 0);
                    s1 = j.selectFrom(lo).blend(j.selectFrom(hi), upper1).reinterpretAsFloats()
                            .fma(FloatVector.fromMemorySegment(F, xp, b * 256L + n * 32L + 32, LE), s1);
                }
                s0.add(s1).fma(FloatVector.broadcast(F, w.get(ai.kestrel.kernels.Buf.F32, o)), FloatVector.fromArray(F, acc, r * F.length()))
                        .intoArray(acc, r * F.length());
            }
        }
        for (int r = 0; r < 4; r++) {
            out[r] = FloatVector.fromArray(F, acc, r * F.length()).reduceLanes(VectorOperators.ADD);
        }
    }

    /**
     * Every fp16 value as a float, indexed by its bits: a block scale is one load of its bits and one broadcast
     * from this table instead of a load, a move to a vector register, a conversion and a broadcast. The scales of
     * one matrix span a few binades, so the entries a product touches stay in L1.
     */
    private static final float[] F16 = new float[1 << 16];

    static {
        for (int h = 0; h < F16.length; h++) {
            F16[h] = Float.float16ToFloat((short) h);
        }
    }

    /** The fp16 scale {@code d} of the Q8_0 block at {@code at}, in every lane. */
    private static FloatVector q8Scale(MemorySegment w, long at) {
        return FloatVector.broadcast(F, F16[w.get(ValueLayout.JAVA_SHORT_UNALIGNED, at) & 0xffff]);
    }

    private static final VectorSpecies<Byte> B128 = ByteVector.SPECIES_128;
    /** The NF4 code values' bits as one vector (16 lanes): looking up 16 codes is one integer permute. */
    private static final IntVector NF4_CODE = F.length() == 16
            ? (IntVector) FloatVector.fromArray(F, ai.kestrel.kernels.quant.Nf4.code(), 0).viewAsIntegralLanes() : null;

    /** The length of {@link #dot4}'s scratch. */
    static final int ACC_FLOATS = 4 * F.length();

    /**
     * Four NF4 rows {@code rb} bytes apart (16-lane vectors; 8-lane ones take {@link #nf4w8}), one block of 64 (its
     * scale, then 32 code bytes) of each per iteration, x read once for the four. 16 code bytes at a time become two
     * index vectors, the high nibbles (the block's even elements) and the low ones (the odd elements); a permute of
     * {@link #NF4_CODE} looks the values up (the low nibbles unmasked: {@code selectFrom} wraps each index to its low
     * four bits, as {@code vpermd} does; without the two ANDs per 16 bytes, in JMH forks alternating on Zen 5, lm_head
     * from DRAM 1.00-1.05x, faster in 4 of 4, 1280 x 3072 in cache faster in 3 of 4), FMAs against x's evens and odds
     * ({@code xp}: {@link #prepareRow}) sum them in a block accumulator, and one FMA applies the block's scale. (Written out per row on purpose: the same
     * steps through helper methods, one per block or small ones per load and lookup, ran 70-550 times slower on JDK
     * 25, tried twice.) As in {@link #q8w16}, each row is its own slice indexed from 0 and x comes from an array;
     * the code bytes are zero-extended by the conversion (no mask per load).
     */
    private static void nf4w16(MemorySegment w, long r0, long rb, float[] xp, int k, float[] out) {
        int blocks = k / WeightFormat.NF4_BLOCK;
        long len = blocks * 36L;
        int h = k / 2;
        MemorySegment w0 = w.asSlice(r0, len), w1 = w.asSlice(r0 + rb, len);
        MemorySegment w2 = w.asSlice(r0 + 2 * rb, len), w3 = w.asSlice(r0 + 3 * rb, len);
        FloatVector a0 = FloatVector.zero(F), a1 = FloatVector.zero(F), a2 = FloatVector.zero(F), a3 = FloatVector.zero(F);
        for (int b = 0; b < blocks; b++) {
            long o = b * 36L;
            int e = b * 32; // this block's first even (and odd) element in xp's halves
            FloatVector xe0 = FloatVector.fromArray(F, xp, e);
            FloatVector xo0 = FloatVector.fromArray(F, xp, h + e);
            FloatVector xe1 = FloatVector.fromArray(F, xp, e + 16);
            FloatVector xo1 = FloatVector.fromArray(F, xp, h + e + 16);
            IntVector c0 = (IntVector) ByteVector.fromMemorySegment(B128, w0, o + 4, LE).convertShape(VectorOperators.ZERO_EXTEND_B2I, I, 0);
            IntVector d0 = (IntVector) ByteVector.fromMemorySegment(B128, w0, o + 20, LE).convertShape(VectorOperators.ZERO_EXTEND_B2I, I, 0);
            FloatVector s0 = ((FloatVector) c0.lanewise(VectorOperators.LSHR, 4).selectFrom(NF4_CODE).viewAsFloatingLanes()).mul(xe0);
            s0 = ((FloatVector) c0.selectFrom(NF4_CODE).viewAsFloatingLanes()).fma(xo0, s0);
            s0 = ((FloatVector) d0.lanewise(VectorOperators.LSHR, 4).selectFrom(NF4_CODE).viewAsFloatingLanes()).fma(xe1, s0);
            s0 = ((FloatVector) d0.selectFrom(NF4_CODE).viewAsFloatingLanes()).fma(xo1, s0);
            a0 = s0.fma(FloatVector.broadcast(F, w0.get(ai.kestrel.kernels.Buf.F32, o)), a0);
            IntVector c1 = (IntVector) ByteVector.fromMemorySegment(B128, w1, o + 4, LE).convertShape(VectorOperators.ZERO_EXTEND_B2I, I, 0);
            IntVector d1 = (IntVector) ByteVector.fromMemorySegment(B128, w1, o + 20, LE).convertShape(VectorOperators.ZERO_EXTEND_B2I, I, 0);
            FloatVector s1 = ((FloatVector) c1.lanewise(VectorOperators.LSHR, 4).selectFrom(NF4_CODE).viewAsFloatingLanes()).mul(xe0);
            s1 = ((FloatVector) c1.selectFrom(NF4_CODE).viewAsFloatingLanes()).fma(xo0, s1);
            s1 = ((FloatVector) d1.lanewise(VectorOperators.LSHR, 4).selectFrom(NF4_CODE).viewAsFloatingLanes()).fma(xe1, s1);
            s1 = ((FloatVector) d1.selectFrom(NF4_CODE).viewAsFloatingLanes()).fma(xo1, s1);
            a1 = s1.fma(FloatVector.broadcast(F, w1.get(ai.kestrel.kernels.Buf.F32, o)), a1);
            IntVector c2 = (IntVector) ByteVector.fromMemorySegment(B128, w2, o + 4, LE).convertShape(VectorOperators.ZERO_EXTEND_B2I, I, 0);
            IntVector d2 = (IntVector) ByteVector.fromMemorySegment(B128, w2, o + 20, LE).convertShape(VectorOperators.ZERO_EXTEND_B2I, I, 0);
            FloatVector s2 = ((FloatVector) c2.lanewise(VectorOperators.LSHR, 4).selectFrom(NF4_CODE).viewAsFloatingLanes()).mul(xe0);
            s2 = ((FloatVector) c2.selectFrom(NF4_CODE).viewAsFloatingLanes()).fma(xo0, s2);
            s2 = ((FloatVector) d2.lanewise(VectorOperators.LSHR, 4).selectFrom(NF4_CODE).viewAsFloatingLanes()).fma(xe1, s2);
            s2 = ((FloatVector) d2.selectFrom(NF4_CODE).viewAsFloatingLanes()).fma(xo1, s2);
            a2 = s2.fma(FloatVector.broadcast(F, w2.get(ai.kestrel.kernels.Buf.F32, o)), a2);
            IntVector c3 = (IntVector) ByteVector.fromMemorySegment(B128, w3, o + 4, LE).convertShape(VectorOperators.ZERO_EXTEND_B2I, I, 0);
            IntVector d3 = (IntVector) ByteVector.fromMemorySegment(B128, w3, o + 20, LE).convertShape(VectorOperators.ZERO_EXTEND_B2I, I, 0);
            FloatVector s3 = ((FloatVector) c3.lanewise(VectorOperators.LSHR, 4).selectFrom(NF4_CODE).viewAsFloatingLanes()).mul(xe0);
            s3 = ((FloatVector) c3.selectFrom(NF4_CODE).viewAsFloatingLanes()).fma(xo0, s3);
            s3 = ((FloatVector) d3.lanewise(VectorOperators.LSHR, 4).selectFrom(NF4_CODE).viewAsFloatingLanes()).fma(xe1, s3);
            s3 = ((FloatVector) d3.selectFrom(NF4_CODE).viewAsFloatingLanes()).fma(xo1, s3);
            a3 = s3.fma(FloatVector.broadcast(F, w3.get(ai.kestrel.kernels.Buf.F32, o)), a3);
        }
        out[0] = a0.reduceLanes(VectorOperators.ADD);
        out[1] = a1.reduceLanes(VectorOperators.ADD);
        out[2] = a2.reduceLanes(VectorOperators.ADD);
        out[3] = a3.reduceLanes(VectorOperators.ADD);
    }

    /**
     * One NF4 weight row against four rows of x ({@code xp}, in {@link #nf4w8}'s order, from {@link #prepareRow}), for
     * 8-lane vectors: each 8 values are looked up as in {@link #nf4w8} once, scaled by the block's absmax, and used
     * for the four rows; {@code out[i * 4 + r]} is x_i's product. Before it, NF4 weights with 2-16 rows of x were
     * decoded into a float tile first: against that, 1280 x 3072 on two threads, in one JVM alternating (10 rounds,
     * all faster), 2.6-2.9x for 2 and 4 rows of x, 1.6x for 8, 1.5x for 12 and 1.15x for 16 (Zen 3, 2026-12-01).
     * The row is read at offsets into {@code w}: a slice of it per call was 60 bytes of garbage per call and
     * 0.88-1.03x.
     */
    private static void nf4x4w8(MemorySegment w, long r0, float[][] xp, int k, float[] out, int r) {
        float[] x0 = xp[0], x1 = xp[1], x2 = xp[2], x3 = xp[3];
        int blocks = k / WeightFormat.NF4_BLOCK;
        IntVector lo = NF4_LO8I, hi = NF4_HI8I;
        FloatVector a0 = FloatVector.zero(F), a1 = FloatVector.zero(F), a2 = FloatVector.zero(F), a3 = FloatVector.zero(F);
        for (int b = 0; b < blocks; b++) {
            long o = r0 + b * 36L;
            IntVector q = IntVector.fromMemorySegment(I, w, o + 4, LE);
            FloatVector d = FloatVector.broadcast(F, w.get(ai.kestrel.kernels.Buf.F32, o));
            int xo = b * WeightFormat.NF4_BLOCK;
            for (int n = 0; n < 8; n++) {
                int sh = 4 * n;
                IntVector i = q.lanewise(VectorOperators.LSHR, sh);
                VectorMask<Integer> upper = q.lanewise(VectorOperators.LSHL, 28 - sh).compare(VectorOperators.LT, 0);
                FloatVector v = i.selectFrom(lo).blend(i.selectFrom(hi), upper).reinterpretAsFloats().mul(d);
                int e = xo + n * 8;
                a0 = v.fma(FloatVector.fromArray(F, x0, e), a0);
                a1 = v.fma(FloatVector.fromArray(F, x1, e), a1);
                a2 = v.fma(FloatVector.fromArray(F, x2, e), a2);
                a3 = v.fma(FloatVector.fromArray(F, x3, e), a3);
            }
        }
        out[r] = a0.reduceLanes(VectorOperators.ADD);
        out[4 + r] = a1.reduceLanes(VectorOperators.ADD);
        out[8 + r] = a2.reduceLanes(VectorOperators.ADD);
        out[12 + r] = a3.reduceLanes(VectorOperators.ADD);
    }

    /** Formats with a multi-row kernel ({@link #rows}): the weights converted once in registers for up to four rows of x. */
    static boolean fusesRows(WeightFormat f) {
        return f == WeightFormat.BF16 || f == WeightFormat.Q8_0 || (f == WeightFormat.NF4 && F.length() == 8);
    }

    /**
     * {@code out[i * 4 + r] = x_i · the weight row at byte row0 + r * stride} for four weight rows and four rows of
     * x ({@code x[i]} as they lie, {@code xp[i]} from {@link #prepareRow}); callers with fewer rows of x repeat one
     * and drop its results.
     */
    static void rows(WeightFormat f, MemorySegment w, long row0, long stride, float[][] x, float[][] xp, int k, float[] out) {
        switch (f) {
            case BF16 -> {
                bf16x4(w, row0, stride, x, xp, k, out, 0);
                bf16x4(w, row0 + 2 * stride, stride, x, xp, k, out, 2);
            }
            case Q8_0 -> {
                q8x4(w, row0, stride, x, k, out, 0);
                q8x4(w, row0 + 2 * stride, stride, x, k, out, 2);
            }
            case NF4 -> {
                for (int r = 0; r < 4; r++) {
                    nf4x4w8(w, row0 + r * stride, xp, k, out, r);
                }
            }
            default -> throw new IllegalArgumentException(f + " weights have no multi-row kernel");
        }
    }

    /** Two BF16 weight rows (see {@link #bf16}) against four rows of x: each pair of values converted once, used four times. */
    private static void bf16x4(MemorySegment w, long r0, long rb, float[][] x, float[][] xp, int k, float[] out, int o) {
        float[] p0 = xp[0], p1 = xp[1], p2 = xp[2], p3 = xp[3];
        FloatVector a00 = FloatVector.zero(F), a01 = FloatVector.zero(F), b00 = FloatVector.zero(F), b01 = FloatVector.zero(F);
        FloatVector a10 = FloatVector.zero(F), a11 = FloatVector.zero(F), b10 = FloatVector.zero(F), b11 = FloatVector.zero(F);
        FloatVector a20 = FloatVector.zero(F), a21 = FloatVector.zero(F), b20 = FloatVector.zero(F), b21 = FloatVector.zero(F);
        FloatVector a30 = FloatVector.zero(F), a31 = FloatVector.zero(F), b30 = FloatVector.zero(F), b31 = FloatVector.zero(F);
        int h = k / 2;
        MemorySegment w0 = w.asSlice(r0, h * 4L), w1 = w.asSlice(r0 + rb, h * 4L);
        int i = 0;
        for (int bound = I.loopBound(h); i < bound; i += I.length()) {
            long at = i * 4L;
            IntVector v0 = IntVector.fromMemorySegment(I, w0, at, LE);
            IntVector v1 = IntVector.fromMemorySegment(I, w1, at, LE);
            FloatVector e0 = v0.lanewise(VectorOperators.LSHL, 16).viewAsFloatingLanes();
            FloatVector d0 = v0.and(0xFFFF0000).viewAsFloatingLanes();
            FloatVector e1 = v1.lanewise(VectorOperators.LSHL, 16).viewAsFloatingLanes();
            FloatVector d1 = v1.and(0xFFFF0000).viewAsFloatingLanes();
            FloatVector xe = FloatVector.fromArray(F, p0, i);
            FloatVector xo = FloatVector.fromArray(F, p0, h + i);
            a00 = e0.fma(xe, a00);
            b00 = d0.fma(xo, b00);
            a01 = e1.fma(xe, a01);
            b01 = d1.fma(xo, b01);
            xe = FloatVector.fromArray(F, p1, i);
            xo = FloatVector.fromArray(F, p1, h + i);
            a10 = e0.fma(xe, a10);
            b10 = d0.fma(xo, b10);
            a11 = e1.fma(xe, a11);
            b11 = d1.fma(xo, b11);
            xe = FloatVector.fromArray(F, p2, i);
            xo = FloatVector.fromArray(F, p2, h + i);
            a20 = e0.fma(xe, a20);
            b20 = d0.fma(xo, b20);
            a21 = e1.fma(xe, a21);
            b21 = d1.fma(xo, b21);
            xe = FloatVector.fromArray(F, p3, i);
            xo = FloatVector.fromArray(F, p3, h + i);
            a30 = e0.fma(xe, a30);
            b30 = d0.fma(xo, b30);
            a31 = e1.fma(xe, a31);
            b31 = d1.fma(xo, b31);
        }
        out[o] = a00.add(b00).reduceLanes(VectorOperators.ADD);
        out[o + 1] = a01.add(b01).reduceLanes(VectorOperators.ADD);
        out[4 + o] = a10.add(b10).reduceLanes(VectorOperators.ADD);
        out[4 + o + 1] = a11.add(b11).reduceLanes(VectorOperators.ADD);
        out[8 + o] = a20.add(b20).reduceLanes(VectorOperators.ADD);
        out[8 + o + 1] = a21.add(b21).reduceLanes(VectorOperators.ADD);
        out[12 + o] = a30.add(b30).reduceLanes(VectorOperators.ADD);
        out[12 + o + 1] = a31.add(b31).reduceLanes(VectorOperators.ADD);
        for (int j = 2 * i; j < k; j++) {
            for (int r = 0; r < 2; r++) {
                float wv = Float.intBitsToFloat((w.get(ValueLayout.JAVA_SHORT_UNALIGNED, r0 + r * rb + j * 2L) & 0xffff) << 16);
                for (int q = 0; q < 4; q++) {
                    out[q * 4 + o + r] += x[q][j] * wv;
                }
            }
        }
    }

    /** Two Q8_0 weight rows against four rows of x: each block converted and scaled once, used four times. */
    private static void q8x4(MemorySegment w, long r0, long rb, float[][] x, int k, float[] out, int o) {
        if (F.length() == 8) {
            q8x4w8(w, r0, rb, x, k, out, o);
            return;
        }
        float[] x0 = x[0], x1 = x[1], x2 = x[2], x3 = x[3];
        FloatVector a00 = FloatVector.zero(F), a01 = FloatVector.zero(F), a10 = FloatVector.zero(F), a11 = FloatVector.zero(F);
        FloatVector a20 = FloatVector.zero(F), a21 = FloatVector.zero(F), a30 = FloatVector.zero(F), a31 = FloatVector.zero(F);
        int blocks = k / WeightFormat.Q8_0_BLOCK;
        for (int b = 0; b < blocks; b++) {
            long o0 = r0 + b * 34L;
            long o1 = o0 + rb;
            FloatVector d0 = q8Scale(w, o0);
            FloatVector d1 = q8Scale(w, o1);
            int xo = b * WeightFormat.Q8_0_BLOCK;
            for (int j = 0; j < WeightFormat.Q8_0_BLOCK; j += B.length()) {
                ByteVector q0 = ByteVector.fromMemorySegment(B, w, o0 + 2 + j, LE);
                ByteVector q1 = ByteVector.fromMemorySegment(B, w, o1 + 2 + j, LE);
                for (int p = 0; p < B_PARTS; p++) {
                    int xi = xo + j + p * F.length();
                    FloatVector w0 = ((FloatVector) q0.convertShape(VectorOperators.B2F, F, p)).mul(d0);
                    FloatVector w1 = ((FloatVector) q1.convertShape(VectorOperators.B2F, F, p)).mul(d1);
                    FloatVector xv = FloatVector.fromArray(F, x0, xi);
                    a00 = w0.fma(xv, a00);
                    a01 = w1.fma(xv, a01);
                    xv = FloatVector.fromArray(F, x1, xi);
                    a10 = w0.fma(xv, a10);
                    a11 = w1.fma(xv, a11);
                    xv = FloatVector.fromArray(F, x2, xi);
                    a20 = w0.fma(xv, a20);
                    a21 = w1.fma(xv, a21);
                    xv = FloatVector.fromArray(F, x3, xi);
                    a30 = w0.fma(xv, a30);
                    a31 = w1.fma(xv, a31);
                }
            }
        }
        out[o] = a00.reduceLanes(VectorOperators.ADD);
        out[o + 1] = a01.reduceLanes(VectorOperators.ADD);
        out[4 + o] = a10.reduceLanes(VectorOperators.ADD);
        out[4 + o + 1] = a11.reduceLanes(VectorOperators.ADD);
        out[8 + o] = a20.reduceLanes(VectorOperators.ADD);
        out[8 + o + 1] = a21.reduceLanes(VectorOperators.ADD);
        out[12 + o] = a30.reduceLanes(VectorOperators.ADD);
        out[12 + o + 1] = a31.reduceLanes(VectorOperators.ADD);
    }
}
