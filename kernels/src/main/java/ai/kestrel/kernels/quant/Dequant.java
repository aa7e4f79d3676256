package ai.kestrel.kernels.quant;

import static ai.kestrel.kernels.Vec.F;

import ai.kestrel.kernels.Buf;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * Decodes a stretch of one weight row into float32, vectorised per format. This is where every format's
 * dequantization happens for the fast kernels; {@link Weights#get} is its reference.
 */
public final class Dequant {
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    /** Shorts with as many lanes as {@code F} has floats (BF16/F16 bits). */
    private static final VectorSpecies<Short> S = VectorSpecies.of(short.class, VectorShape.forBitSize(F.length() * 16));
    /** Ints with as many lanes as {@code F}. */
    private static final VectorSpecies<Integer> I = F.withLanes(int.class);
    /** Bytes for Q8_0: the narrowest species holding at least {@code F.length()} lanes (64 bits at minimum). */
    private static final VectorSpecies<Byte> B = VectorSpecies.of(byte.class, VectorShape.forBitSize(Math.max(64, F.length() * 8)));
    /** Float vectors per byte vector (2 when floats are 128-bit and bytes 64-bit). */
    private static final int B_PARTS = B.length() / F.length();
    private static final float TWO_112 = 0x1p112f;
    private static final float[] NF4_CODE = Nf4.code();

    private Dequant() {
    }

    /**
     * {@code out[off, off + len) = W[row, c0, c0 + len)} as float. For Q8_0, {@code c0} and {@code len} are
     * multiples of 32 or {@code c0 + len == K}.
     */
    public static void decode(Weights w, int row, int c0, int len, float[] out, int off) {
        MemorySegment seg = w.data();
        long base = row * w.rowBytes();
        switch (w.format()) {
            case F32 -> MemorySegment.copy(seg, Buf.F32, base + c0 * 4L, out, off, len);
            case F64 -> {
                for (int i = 0; i < len; i++) {
                    out[off + i] = (float) seg.get(Buf.F64, base + (c0 + i) * 8L);
                }
            }
            case BF16 -> bf16(seg, base + c0 * 2L, len, out, off);
            case F16 -> f16(seg, base + c0 * 2L, len, out, off);
            case Q8_0 -> q8_0(seg, base + (long) (c0 / WeightFormat.Q8_0_BLOCK) * 34, len, out, off);
            case NF4 -> nf4(seg, base + (long) (c0 / WeightFormat.NF4_BLOCK) * 36, len, out, off);
        }
    }

    private static void bf16(MemorySegment seg, long at, int len, float[] out, int off) {
        int i = 0;
        for (int bound = F.loopBound(len); i < bound; i += F.length()) {
            ShortVector s = ShortVector.fromMemorySegment(S, seg, at + i * 2L, LE);
            IntVector bits = (IntVector) s.convertShape(VectorOperators.ZERO_EXTEND_S2I, I, 0);
            bits.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().intoArray(out, off + i);
        }
        for (; i < len; i++) {
            out[off + i] = Float.intBitsToFloat((seg.get(ValueLayout.JAVA_SHORT_UNALIGNED, at + i * 2L) & 0xffff) << 16);
        }
    }

    /**
     * IEEE half to float without a conversion instruction: shifting the exponent and mantissa into float
     * position and scaling by 2^112 rebiases normals and turns subnormals into the right normal floats;
     * infinities and NaNs (exponent all ones) get the float's all-ones exponent instead.
     */
    private static void f16(MemorySegment seg, long at, int len, float[] out, int off) {
        int i = 0;
        for (int bound = F.loopBound(len); i < bound; i += F.length()) {
            ShortVector s = ShortVector.fromMemorySegment(S, seg, at + i * 2L, LE);
            IntVector h = (IntVector) s.convertShape(VectorOperators.ZERO_EXTEND_S2I, I, 0);
            IntVector sign = h.and(0x8000).lanewise(VectorOperators.LSHL, 16);
            IntVector em = h.and(0x7fff);
            IntVector shifted = em.lanewise(VectorOperators.LSHL, 13);
            FloatVector finite = shifted.reinterpretAsFloats().mul(TWO_112);
            IntVector special = shifted.or(0x7f800000);
            IntVector bits = finite.reinterpretAsInts().blend(special, em.compare(VectorOperators.GE, 0x7c00));
            bits.or(sign).reinterpretAsFloats().intoArray(out, off + i);
        }
        for (; i < len; i++) {
            out[off + i] = Float.float16ToFloat(seg.get(ValueLayout.JAVA_SHORT_UNALIGNED, at + i * 2L));
        }
    }

    /** The 16 NF4 code values' bits as one 16-lane vector (null with other widths). */
    private static final IntVector NF4_TABLE = F.length() == 16 ? FloatVector.fromArray(F, NF4_CODE, 0).reinterpretAsInts() : null;
    /** Code bytes per step: one per lane (16 or 8). */
    private static final VectorSpecies<Byte> NF4_BYTES = F.length() == 16 ? ByteVector.SPECIES_128 : ByteVector.SPECIES_64;
    /**
     * Interleaves the high nibbles' values (this vector, the even elements) with the low ones' (the argument, the odd
     * elements): the first half of the 2 x lanes outputs, then the second (indexes past the last lane select from the
     * argument).
     */
    private static final VectorShuffle<Float> FIRST_HALF = VectorShuffle.fromOp(F, i -> i / 2 + (i % 2) * F.length());
    private static final VectorShuffle<Float> SECOND_HALF = VectorShuffle.fromOp(F, i -> F.length() / 2 + i / 2 + (i % 2) * F.length());

    /** The NF4 code values' bits as two 8-lane vectors, codes 0-7 and 8-15 (null with other widths). */
    private static final IntVector NF4_LO8 = F.length() == 8 ? FloatVector.fromArray(F, NF4_CODE, 0).reinterpretAsInts() : null;
    private static final IntVector NF4_HI8 = F.length() == 8 ? FloatVector.fromArray(F, NF4_CODE, 8).reinterpretAsInts() : null;

    /**
     * NF4 blocks from byte {@code at}: per block a float32 scale and 32 bytes of codes, high nibble first. With 16-lane
     * vectors, 16 code bytes at a time: zero-extended to ints, the high nibbles (shifted down) and the low ones
     * (unmasked: {@code selectFrom} wraps an index to its low four bits) look their values up in one permute each, are
     * scaled, and are interleaved back into element order by two two-vector permutes. With 8 lanes the same, 8 bytes
     * at a time, each lookup a permute of codes 0-7 and one of 8-15 blended on the nibble's bit 3 (timed only with C2
     * limited to AVX2 on an AVX-512 machine: the NF4 GEMM 1.01-1.04x over the scalar loop). Other widths value by value.
     */
    private static void nf4(MemorySegment seg, long at, int len, float[] out, int off) {
        int bs = WeightFormat.NF4_BLOCK;
        if (len % bs != 0) {
            throw new IllegalArgumentException("NF4 rows decode in whole blocks of 64, asked for " + len + " values");
        }
        if (F.length() == 16 || F.length() == 8) {
            int l = F.length();
            boolean wide = l == 16; // a static final's test: C2 keeps one side
            for (int b = 0; b < len / bs; b++) {
                long blk = at + b * 36L;
                FloatVector s = FloatVector.broadcast(F, seg.get(Buf.F32, blk));
                int o = off + b * bs;
                for (int j = 0; j < bs / 2; j += l) {
                    IntVector c = (IntVector) ByteVector.fromMemorySegment(NF4_BYTES, seg, blk + 4 + j, LE)
                            .convertShape(VectorOperators.ZERO_EXTEND_B2I, I, 0);
                    IntVector h = c.lanewise(VectorOperators.LSHR, 4);
                    IntVector hv = wide ? h.selectFrom(NF4_TABLE)
                            : h.selectFrom(NF4_LO8).blend(h.selectFrom(NF4_HI8), h.and(8).compare(VectorOperators.NE, 0));
                    IntVector lv = wide ? c.selectFrom(NF4_TABLE)
                            : c.selectFrom(NF4_LO8).blend(c.selectFrom(NF4_HI8), c.and(8).compare(VectorOperators.NE, 0));
                    FloatVector hi = ((FloatVector) hv.viewAsFloatingLanes()).mul(s);
                    FloatVector lo = ((FloatVector) lv.viewAsFloatingLanes()).mul(s);
                    hi.rearrange(FIRST_HALF, lo).intoArray(out, o + 2 * j);
                    hi.rearrange(SECOND_HALF, lo).intoArray(out, o + 2 * j + l);
                }
            }
            return;
        }
        for (int b = 0; b < len / bs; b++) {
            long blk = at + b * 36L;
            float s = seg.get(Buf.F32, blk);
            int o = off + b * bs;
            for (int j = 0; j < bs / 2; j++) {
                int v = seg.get(ValueLayout.JAVA_BYTE, blk + 4 + j);
                out[o + 2 * j] = NF4_CODE[(v >> 4) & 0xF] * s;
                out[o + 2 * j + 1] = NF4_CODE[v & 0xF] * s;
            }
        }
    }

    private static void q8_0(MemorySegment seg, long at, int len, float[] out, int off) {
        int bs = WeightFormat.Q8_0_BLOCK;
        int blocks = len / bs;
        for (int b = 0; b < blocks; b++) {
            long blk = at + b * 34L;
            float d = Float.float16ToFloat(seg.get(ValueLayout.JAVA_SHORT_UNALIGNED, blk));
            int o = off + b * bs;
            for (int j = 0; j < bs; j += B.length()) {
                ByteVector q = ByteVector.fromMemorySegment(B, seg, blk + 2 + j, LE);
                for (int p = 0; p < B_PARTS; p++) {
                    ((FloatVector) q.convertShape(VectorOperators.B2F, F, p)).mul(d).intoArray(out, o + j + p * F.length());
                }
            }
        }
        if (blocks * bs != len) {
            throw new IllegalArgumentException("Q8_0 rows decode in whole blocks of 32, asked for " + len + " values");
        }
    }
}
