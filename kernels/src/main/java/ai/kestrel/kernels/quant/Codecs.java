package ai.kestrel.kernels.quant;

import ai.kestrel.kernels.Half;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/** Scalar encoders from float32 into each {@link WeightFormat}, as ggml and PyTorch round. */
public final class Codecs {
    private Codecs() {
    }

    /**
     * Encodes {@code src} (N, K) row-major into {@code format}, allocated in {@code arena}. Q8_0 follows ggml's
     * {@code quantize_row_q8_0_ref}: {@code d = max|x| / 127}, {@code q = round(x / d)} (0 when {@code d == 0}),
     * {@code d} stored as IEEE half. NF4 follows bitsandbytes (see {@link Nf4}), double quantization included.
     */
    public static Weights encode(Arena arena, float[] src, int n, int k, WeightFormat format) {
        if ((long) n * k != src.length) {
            throw new IllegalArgumentException("encode: " + src.length + " values for (" + n + ", " + k + ")");
        }
        MemorySegment dst = arena.allocate(format.rowBytes(k) * n, 64);
        switch (format) {
            case F32 -> MemorySegment.copy(src, 0, dst, ai.kestrel.kernels.Buf.F32, 0, src.length);
            case F64 -> {
                for (int i = 0; i < src.length; i++) {
                    dst.setAtIndex(ai.kestrel.kernels.Buf.F64, i, src[i]);
                }
            }
            case F16 -> {
                for (int i = 0; i < src.length; i++) {
                    dst.setAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, i, Half.floatToF16(src[i]));
                }
            }
            case BF16 -> {
                for (int i = 0; i < src.length; i++) {
                    dst.setAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, i, Half.floatToBf16(src[i]));
                }
            }
            case Q8_0 -> {
                for (int r = 0; r < n; r++) {
                    quantizeRowQ8_0(src, r * k, k, dst, r * format.rowBytes(k));
                }
            }
            case NF4 -> {
                // bitsandbytes' quantization with double-quantized scales, stored in the kernel layout
                return Nf4.toWeights(arena, Nf4.quantize(src), n, k);
            }
        }
        return new Weights(format, n, k, dst);
    }

    /** One row of {@code k} floats from {@code src[off]} into Q8_0 blocks at byte offset {@code at} of {@code dst}. */
    public static void quantizeRowQ8_0(float[] src, int off, int k, MemorySegment dst, long at) {
        int bs = WeightFormat.Q8_0_BLOCK;
        for (int b = 0; b < k / bs; b++) {
            float amax = 0;
            for (int j = 0; j < bs; j++) {
                amax = Math.max(amax, Math.abs(src[off + b * bs + j]));
            }
            float d = amax / 127f;
            float id = d != 0 ? 1f / d : 0f;
            long blk = at + b * 34L;
            dst.set(ValueLayout.JAVA_SHORT_UNALIGNED, blk, Half.floatToF16(d));
            for (int j = 0; j < bs; j++) {
                // roundf: half away from zero, as C's roundf in ggml's reference quantizer
                float v = src[off + b * bs + j] * id;
                dst.set(ValueLayout.JAVA_BYTE, blk + 2 + j, (byte) (v < 0 ? -Math.round(-v) : Math.round(v)));
            }
        }
    }
}
