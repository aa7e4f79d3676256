package ai.kestrel.kernels.quant;

/**
 * bitsandbytes' NF4 4-bit format with double quantization, as {@code Linear4bit} stores a weight (facts in
 * shared/REFERENCE.md §1b).
 *
 * <ul>
 *   <li>The weight is flattened row-major and cut into blocks of {@link #BLOCK} values (a partial last block
 *       has its own scale); {@code absmax} is each block's largest magnitude.</li>
 *   <li>Each value is scaled by {@code 1 / absmax} (float32, as the reciprocal times the value), clamped to
 *       [-1, 1] and replaced by the index of the nearest of the 16 {@link #CODE} values (ties and NaN take the
 *       lower index, as {@code torch.argmin}).</li>
 *   <li>Two indices per byte, the first value in the high nibble.</li>
 *   <li>Double quantization: {@code offset = mean(absmax)}; {@code absmax - offset} is quantized in blocks of
 *       {@link #NESTED_BLOCK} to the nearest of the 256 values of {@link #dynamicMap()} after scaling by each
 *       block's own absmax ({@code nested_absmax}). Reconstruction:
 *       {@code absmax[i] = map[q[i]] * nested_absmax[i / 256] + offset}.</li>
 * </ul>
 * Dequantized value: {@code CODE[nibble] * absmax[block]} in float32.
 */
public final class Nf4 {
    /** Values per NF4 block (bitsandbytes' default and the only one QLoRA uses). */
    public static final int BLOCK = 64;
    /** Values per block of the double quantization of the absmax. */
    public static final int NESTED_BLOCK = 256;

    /** The 16 NF4 values, index = 4-bit code (bitsandbytes {@code get_4bit_type("nf4")}). */
    private static final float[] CODE = {
        -1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f, -0.28444138169288635f,
        -0.18477343022823334f, -0.09105003625154495f, 0.0f, 0.07958029955625534f, 0.16093020141124725f,
        0.24611230194568634f, 0.33791524171829224f, 0.44070982933044434f, 0.5626170039176941f,
        0.7229568362236023f, 1.0f,
    };

    private static final float[] DYNAMIC = buildDynamicMap();

    private Nf4() {
    }

    /** A copy of the 16 NF4 code values. */
    public static float[] code() {
        return CODE.clone();
    }

    /** NF4 code value {@code i} (0..15). */
    static float codeValue(int i) {
        return CODE[i];
    }

    /** A copy of the signed 8-bit dynamic map (256 sorted values in [-1, 1]) used for the nested absmax. */
    public static float[] dynamicMap() {
        return DYNAMIC.clone();
    }

    /**
     * bitsandbytes' {@code create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8)}: for exponent
     * {@code i} in 0..6, {@code 2^i} midpoints of {@code linspace(0.1, 1, 2^i + 1)} scaled by
     * {@code 10^(i - 6)}, with both signs; then 0 and 1; sorted. Computed in float32 as PyTorch's scalar
     * {@code linspace} does; the map travels inside every file, so a last-bit difference from a vectorised
     * PyTorch build only changes which of two neighbours a value rounds to, never how a file is read.
     */
    private static float[] buildDynamicMap() {
        float[] data = new float[256];
        int n = 0;
        for (int i = 0; i < 7; i++) {
            int items = (1 << i) + 1;
            float start = 0.1f;
            float end = 1.0f;
            float step = (end - start) / (items - 1);
            float[] b = new float[items];
            int half = items / 2;
            for (int j = 0; j < items; j++) {
                b[j] = j < half ? start + step * j : end - step * (items - j - 1);
            }
            float scale = (float) Math.pow(10, i - 6);
            for (int j = 0; j + 1 < items; j++) {
                float mean = (b[j] + b[j + 1]) / 2.0f;
                data[n++] = scale * mean;
                data[n++] = -scale * mean;
            }
        }
        data[n++] = 0f;
        data[n++] = 1f;
        if (n != 256) {
            throw new IllegalStateException("dynamic map has " + n + " values");
        }
        java.util.Arrays.sort(data);
        return data;
    }

    /** A quantized weight: packed nibbles and the (double-quantized) block scales, in the layout bitsandbytes saves. */
    public record Quantized(byte[] packed, int count, byte[] absmaxCodes, float[] nestedAbsmax, float offset) {
        /** The float32 block scales this state reconstructs (what dequantization multiplies by). */
        public float[] absmax() {
            float[] a = new float[absmaxCodes.length];
            for (int i = 0; i < a.length; i++) {
                a[i] = DYNAMIC[absmaxCodes[i] & 0xff] * nestedAbsmax[i / NESTED_BLOCK] + offset;
            }
            return a;
        }
    }

    /** Blocks of {@link #BLOCK} over {@code count} values. */
    public static int blocks(long count) {
        return (int) ((count + BLOCK - 1) / BLOCK);
    }

    /** Quantizes {@code w} (flattened row-major) to NF4 with double quantization of the block scales. */
    public static Quantized quantize(float[] w) {
        int blocks = blocks(w.length);
        float[] absmax = new float[blocks];
        byte[] packed = new byte[(w.length + 1) / 2];
        for (int b = 0; b < blocks; b++) {
            int lo = b * BLOCK;
            int hi = Math.min(w.length, lo + BLOCK);
            float m = 0f;
            for (int i = lo; i < hi; i++) {
                m = Math.max(m, Math.abs(w[i]));
            }
            absmax[b] = m;
            float inv = 1f / m;
            for (int i = lo; i < hi; i++) {
                int q = nearest(CODE, Math.max(-1f, Math.min(1f, w[i] * inv)));
                packed[i >> 1] |= (byte) ((i & 1) == 0 ? q << 4 : q);
            }
        }
        // double quantization of the scales
        double sum = 0;
        for (float a : absmax) {
            sum += a;
        }
        float offset = (float) (sum / blocks);
        int nested = (blocks + NESTED_BLOCK - 1) / NESTED_BLOCK;
        float[] nestedAbsmax = new float[nested];
        byte[] codes = new byte[blocks];
        for (int g = 0; g < nested; g++) {
            int lo = g * NESTED_BLOCK;
            int hi = Math.min(blocks, lo + NESTED_BLOCK);
            float m = 0f;
            for (int i = lo; i < hi; i++) {
                m = Math.max(m, Math.abs(absmax[i] - offset));
            }
            nestedAbsmax[g] = m;
            float inv = 1f / m;
            for (int i = lo; i < hi; i++) {
                codes[i] = (byte) nearest(DYNAMIC, Math.max(-1f, Math.min(1f, (absmax[i] - offset) * inv)));
            }
        }
        return new Quantized(packed, w.length, codes, nestedAbsmax, offset);
    }

    /**
     * {@code q}, the quantized (N, K) weight, in the kernels' {@link WeightFormat#NF4} layout (per row, per 64
     * values: the reconstructed float32 scale, then the 32 code bytes as stored). {@code K} must be a multiple
     * of 64, so that no block spans two rows.
     */
    public static Weights toWeights(java.lang.foreign.Arena arena, Quantized q, int n, int k) {
        if ((long) n * k != q.count()) {
            throw new IllegalArgumentException("NF4 state holds " + q.count() + " values, not (" + n + ", " + k + ")");
        }
        return toWeights(arena, q.packed(), q.absmax(), n, k);
    }

    /**
     * Packed codes (bitsandbytes' order) and float32 block scales of an (N, K) weight in the kernels'
     * {@link WeightFormat#NF4} layout; {@code K} a multiple of 64.
     */
    public static Weights toWeights(java.lang.foreign.Arena arena, byte[] packed, float[] absmax, int n, int k) {
        WeightFormat f = WeightFormat.NF4;
        long count = (long) n * k;
        if (packed.length != (count + 1) / 2 || absmax.length != blocks(count)) {
            throw new IllegalArgumentException("NF4 (" + n + ", " + k + ") needs " + (count + 1) / 2 + " code bytes and "
                    + blocks(count) + " scales, got " + packed.length + " and " + absmax.length);
        }
        java.lang.foreign.MemorySegment dst = arena.allocate(f.rowBytes(k) * n, 64);
        for (int b = 0; b < absmax.length; b++) {
            long at = (long) b * 36;
            dst.set(ai.kestrel.kernels.Buf.F32, at, absmax[b]);
            java.lang.foreign.MemorySegment.copy(packed, b * BLOCK / 2, dst, java.lang.foreign.ValueLayout.JAVA_BYTE, at + 4, BLOCK / 2);
        }
        return new Weights(f, n, k, dst);
    }

    /** The float32 values {@code q} stands for: {@code CODE[nibble] * absmax[block]}. */
    public static float[] dequantize(Quantized q) {
        float[] absmax = q.absmax();
        float[] out = new float[q.count()];
        for (int i = 0; i < out.length; i++) {
            out[i] = CODE[nibble(q.packed(), i)] * absmax[i / BLOCK];
        }
        return out;
    }

    /** The 4-bit code of value {@code i}: the high nibble for even {@code i}. */
    public static int nibble(byte[] packed, int i) {
        int b = packed[i >> 1];
        return (i & 1) == 0 ? (b >> 4) & 0xF : b & 0xF;
    }

    /**
     * The index of the value of the sorted {@code code} nearest to {@code x}; on a tie, and for NaN (whose
     * distance to everything is NaN), the lower index, as {@code argmin(|x - code|)} in PyTorch.
     */
    static int nearest(float[] code, float x) {
        if (Float.isNaN(x)) {
            return 0;
        }
        int best = 0;
        float bestD = Math.abs(x - code[0]);
        for (int j = 1; j < code.length; j++) {
            float d = Math.abs(x - code[j]);
            if (d < bestD) {
                best = j;
                bestD = d;
            }
        }
        return best;
    }
}
