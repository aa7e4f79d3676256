package ai.kestrel.kernels.cuda;

import ai.kestrel.kernels.Buf;
import ai.kestrel.kernels.matmul.Matmul;
import ai.kestrel.kernels.quant.WeightFormat;
import ai.kestrel.kernels.quant.Weights;
import java.lang.foreign.MemorySegment;

/**
 * {@link Matmul} on the GPU ({@code matmul.cu}) for F32, BF16, F16, Q8_0 and NF4 weights, dequantized inside the
 * kernels.
 *
 * <ul>
 *   <li>{@link #dequantize}: W as float32 ({@code mm_dequant_<format>}).</li>
 *   <li>Forward with {@code m <= }{@value #GEMV_MAX_ROWS} (decoding): {@code mm_gemv_<format>}, one warp per output
 *       row streaming the row's bytes once (16-byte loads where the row allows), x staged in shared memory.</li>
 *   <li>Forward with more rows: {@code mm_gemm_nt_<format>}, 64x64 output tiles with float FMA, the weight tile
 *       dequantized into shared memory. For BF16 and F16 weights, when {@code k} is a multiple of 16,
 *       {@code mm_wmma_nt_<format>} runs instead on tensor cores (WMMA 16x16x16, float accumulation): x is rounded
 *       to the weight's 16-bit type, so the result's error against the reference is that of a bf16 (or f16) x, not
 *       float32's (see {@link #usesTensorCores}); with F16 weights an |x| above 65504 becomes infinite. With
 *       {@code m >= 128} and {@code n >= 128}, {@code mm_wmma128_nt_<format>} takes its place: 128x128 tiles, 256
 *       threads (8 warps of 64x32), the shared tiles double-buffered (the next K-slice loaded while the current one
 *       is multiplied); the same rounding and preconditions. The system property {@value #WMMA_PROPERTY} = {@code 64}
 *       or {@code 128} forces one of the two tensor-core kernels for every tensor-core shape (for benchmarking);
 *       unset (or any other value), the shape chooses.</li>
 *   <li>{@code dx = dy·W}: {@code mm_gemm_nn_<format>}; {@code dW += dyᵀ·x}: {@code mm_gemm_tn_f32}; float32 tiles.</li>
 * </ul>
 * The static methods take device buffers ({@code w} holds the weight bytes in their stored layout, see
 * {@link WeightFormat}) and {@code x} must be 16-byte aligned (device allocations are); the interface methods stage host buffers through the device.
 */
public final class MatmulCuda implements Matmul {
    /** Up to this many rows the forward product takes the streaming GEMV. */
    public static final int GEMV_MAX_ROWS = 16;
    private static final int GEMV_THREADS = 512;
    /** Floats of x staged in shared memory per GEMV block (m rows times a chunk of columns). */
    private static final int GEMV_SHARED_FLOATS = 8192;
    private static final int TILE = 64;
    private static final int GEMM_THREADS = 256;
    private static final int WMMA_THREADS = 128;
    private static final int WMMA128_TILE = 128;
    private static final int WMMA128_THREADS = 256;
    /** System property forcing the tensor-core kernel: {@code 64} ({@code mm_wmma_nt}) or {@code 128} ({@code mm_wmma128_nt}). */
    public static final String WMMA_PROPERTY = "kestrel.cuda.wmma";

    /**
     * Whether the tensor-core product of {@code m x n} takes the 128x128 tiles ({@code mm_wmma128_nt}) rather than
     * the 64x64 ones: {@value #WMMA_PROPERTY} when it is {@code 64} or {@code 128}, else {@code m >= 128 && n >= 128}.
     */
    static boolean wmma128(int m, int n) {
        String p = System.getProperty(WMMA_PROPERTY, "").trim();
        if (p.equals("64")) {
            return false;
        }
        if (p.equals("128")) {
            return true;
        }
        return m >= WMMA128_TILE && n >= WMMA128_TILE;
    }

    private static String suffix(WeightFormat f) {
        return switch (f) {
            case F32 -> "f32";
            case BF16 -> "bf16";
            case F16 -> "f16";
            case Q8_0 -> "q8_0";
            case NF4 -> "nf4";
            case F64 -> throw new IllegalArgumentException("the CUDA matmul takes F32/BF16/F16/Q8_0/NF4 weights, got F64 (use the reference)");
        };
    }

    /** A tiled kernel over an output of {@code rows x cols}: grid (column tiles, row tiles) of 64x64, 256 threads. */
    private static void tiles(Cuda c, String kernel, int cols, int rows, Object... args) {
        // args as one Object[]: the 3-D launch, not the 1-D one's varargs
        c.launch(kernel, Cuda.blocks(cols, TILE), (int) Cuda.blocks(rows, TILE), 1, GEMM_THREADS, 1, 0, args);
    }

    /**
     * Whether the forward product of {@code m} rows with {@code format} weights of row length {@code k} runs on
     * tensor cores, with x rounded to the weight's 16-bit type: BF16/F16 weights, {@code m > GEMV_MAX_ROWS},
     * {@code k} a multiple of 16 (other shapes take the float32 tiles).
     */
    public static boolean usesTensorCores(WeightFormat format, int m, int k) {
        return (format == WeightFormat.BF16 || format == WeightFormat.F16) && m > GEMV_MAX_ROWS && k % 16 == 0;
    }

    // ---- device buffers

    /**
     * {@code y (m, n) = x (m, k) · Wᵀ + bias}, {@code W (n, k)} in {@code format} at {@code w}; {@code bias (n)} may be
     * {@code null}. Q8_0 weights multiply x rounded as {@link Matmul#forward} says; F16 and BF16 ones x as it is.
     */
    public static void forward(Cuda c, DevBuf x, WeightFormat format, DevBuf w, int n, int k, DevBuf bias, DevBuf y, int m) {
        forward(c, x, format, false, w, n, k, bias, y, m);
    }

    /**
     * {@link #forward}, with {@code roundsInput} as {@link ai.kestrel.kernels.quant.Weights#roundsInput}: F16 and BF16
     * weights then multiply x rounded to their type ({@code mm_round_half}), as ggml computes.
     */
    public static void forward(Cuda c, DevBuf x, WeightFormat format, boolean roundsInput, DevBuf w, int n, int k, DevBuf bias,
            DevBuf y, int m) {
        String s = suffix(format);
        long rowBytes = format.rowBytes(k);
        if (m <= 0 || n <= 0) {
            return;
        }
        if (format == WeightFormat.Q8_0) {
            // x rounded as ggml rounds a Q8_0 product's activations (see Matmul#forward), then multiplied as it is
            long blocks = (long) m * k / WeightFormat.Q8_0_BLOCK;
            try (DevBuf xr = c.alloc((long) m * k * 4)) {
                c.launch("mm_round_q8_0", Cuda.blocks(blocks, 128), 128, 0, x, xr, blocks);
                product(c, xr, format, s, w, rowBytes, n, k, bias, y, m);
            }
            return;
        }
        // (the tensor-core path rounds x to the weight's type itself, to nearest even: the same values)
        if (roundsInput && ai.kestrel.kernels.quant.HalfRounding.rounds(format) && !usesTensorCores(format, m, k)) {
            long count = (long) m * k;
            try (DevBuf xr = c.alloc(count * 4)) {
                c.launch("mm_round_half", Cuda.blocks(count, 256), 256, 0, x, xr, count, format == WeightFormat.BF16 ? 1 : 0);
                product(c, xr, format, s, w, rowBytes, n, k, bias, y, m);
            }
            return;
        }
        product(c, x, format, s, w, rowBytes, n, k, bias, y, m);
    }

    private static void product(Cuda c, DevBuf x, WeightFormat format, String s, DevBuf w, long rowBytes, int n, int k, DevBuf bias,
            DevBuf y, int m) {
        if (m <= GEMV_MAX_ROWS) {
            int kc = Math.max(64, GEMV_SHARED_FLOATS / m / 64 * 64);
            kc = Math.min(kc, Math.max(64, (k + 63) / 64 * 64));
            int vecUnit = format == WeightFormat.F32 ? 4 : 8;
            int vec = k % vecUnit == 0 ? 1 : 0;
            int rowsPerBlock = GEMV_THREADS / 32;
            c.launch("mm_gemv_" + s, Cuda.blocks(n, rowsPerBlock), GEMV_THREADS, m * kc * 4,
                    w, rowBytes, x, bias, y, m, n, k, kc, vec);
            return;
        }
        if (usesTensorCores(format, m, k)) {
            if (wmma128(m, n)) {
                c.launch("mm_wmma128_nt_" + s, Cuda.blocks(n, WMMA128_TILE), (int) Cuda.blocks(m, WMMA128_TILE), 1,
                        WMMA128_THREADS, 1, 0, new Object[] {x, w, bias, y, m, n, k});
                return;
            }
            c.launch("mm_wmma_nt_" + s, Cuda.blocks(n, TILE), (int) Cuda.blocks(m, TILE), 1, WMMA_THREADS, 1, 0,
                    new Object[] {x, w, bias, y, m, n, k});
            return;
        }
        tiles(c, "mm_gemm_nt_" + s, n, m, x, w, rowBytes, bias, y, m, n, k);
    }

    /** {@code dx (m, k) = dy (m, n) · W}, or {@code dx += dy · W} when {@code accumulate}. */
    public static void backwardInput(Cuda c, DevBuf dy, WeightFormat format, DevBuf w, int n, int k, DevBuf dx, int m, boolean accumulate) {
        String s = suffix(format);
        long rowBytes = format.rowBytes(k);
        if (m <= 0 || k <= 0) {
            return;
        }
        tiles(c, "mm_gemm_nn_" + s, k, m, dy, w, rowBytes, dx, m, n, k, accumulate ? 1 : 0);
    }

    /** {@code dw (n, k) += dyᵀ · x}: {@code dy (m, n)}, {@code x (m, k)}, summed over the {@code m} rows. */
    public static void backwardWeight(Cuda c, DevBuf dy, DevBuf x, DevBuf dw, int m, int n, int k) {
        if (m <= 0 || n <= 0 || k <= 0) {
            return;
        }
        tiles(c, "mm_gemm_tn_f32", k, n, dy, x, dw, m, n, k);
    }

    /**
     * {@code out (n, k) = W} dequantized to float32 ({@code W (n, k)} in {@code format} at {@code w}): each element as
     * {@link Weights#get} decodes it, by the same decode the tiled kernels use.
     */
    public static void dequantize(Cuda c, WeightFormat format, DevBuf w, int n, int k, DevBuf out) {
        String s = suffix(format);
        long rowBytes = format.rowBytes(k);
        long count = (long) n * k;
        if (count == 0) {
            return;
        }
        c.launch("mm_dequant_" + s, Math.min(Cuda.blocks(count, GEMM_THREADS), 132L * 32), GEMM_THREADS, 0,
                w, rowBytes, out, n, k);
    }

    /** {@code w} dequantized to float32 on the device into {@code out} ({@code n * k} elements, row-major). */
    public static void dequantize(Weights w, Buf out) {
        suffix(w.format());
        long count = (long) w.n() * w.k();
        out.requireF32("out", count);
        if (count == 0) {
            return;
        }
        try (Staging st = new Staging(Cuda.get())) {
            dequantize(st.cuda(), w.format(), st.in(w.data()), w.n(), w.k(), st.out(out.slice(0, count)));
        }
    }

    // ---- host buffers, staged

    private static void check(Weights w) {
        suffix(w.format());
    }

    @Override
    public void forward(Buf x, Weights w, Buf bias, Buf y, int m) {
        check(w);
        int n = w.n();
        int k = w.k();
        Matmul.requireForward(x, w, bias, y, m);
        if (m == 0 || n == 0) {
            return;
        }
        try (Staging st = new Staging(Cuda.get())) {
            forward(st.cuda(), st.in(x.slice(0, (long) m * k)), w.format(), w.roundsInput(), st.in(w.data()), n, k,
                    st.in(bias == null ? null : bias.slice(0, n)), st.out(y.slice(0, (long) m * n)), m);
        }
    }

    /** {@link #forward} staged through the device, then {@code r} added on the host ({@code r} may be {@code y}). */
    @Override
    public void forwardAdd(Buf x, Weights w, Buf r, Buf y, int m) {
        check(w);
        long mn = (long) m * w.n();
        Matmul.requireForward(x, w, null, y, m);
        r.requireF32("r", mn);
        float[] base = new float[Math.toIntExact(mn)];
        MemorySegment.copy(r.seg(), Buf.F32, 0, base, 0, base.length);
        forward(x, w, null, y, m);
        for (int i = 0; i < base.length; i++) {
            y.seg().setAtIndex(Buf.F32, i, base[i] + y.seg().getAtIndex(Buf.F32, i));
        }
    }

    /** One upload of {@code x} for all the matrices, then one {@link #forward} launch per matrix. */
    @Override
    public void forwardMany(Buf x, Weights[] ws, Buf[] biases, Buf[] ys, int m) {
        for (Weights w : ws) {
            check(w);
        }
        int k = Matmul.requireMany(x, ws, biases, ys, m);
        if (ws.length == 0) {
            return;
        }
        if (m == 0) {
            return;
        }
        try (Staging st = new Staging(Cuda.get())) {
            DevBuf dx = st.in(x.slice(0, (long) m * k));
            for (int j = 0; j < ws.length; j++) {
                if (ws[j].n() == 0) {
                    continue;
                }
                int n = ws[j].n();
                Buf b = biases == null || biases[j] == null ? null : biases[j].slice(0, n);
                forward(st.cuda(), dx, ws[j].format(), ws[j].roundsInput(), st.in(ws[j].data()), n, k, st.in(b),
                        st.out(ys[j].slice(0, (long) m * n)), m);
            }
        }
    }

    @Override
    public void backwardInput(Buf dy, Weights w, Buf dx, int m, boolean accumulate) {
        check(w);
        int n = w.n();
        int k = w.k();
        Matmul.requireBackwardInput(dy, w, dx, m);
        if (m == 0 || k == 0) {
            return;
        }
        try (Staging st = new Staging(Cuda.get())) {
            Buf dxs = dx.slice(0, (long) m * k);
            DevBuf ddx = accumulate ? st.inOut(dxs) : st.out(dxs);
            // n == 0 runs an empty reduction: dx = 0, or dx unchanged when accumulating
            backwardInput(st.cuda(), st.in(dy.slice(0, (long) m * n)), w.format(), st.in(w.data()), n, k, ddx, m, accumulate);
        }
    }

    @Override
    public void backwardWeight(Buf dy, Buf x, Buf dw, int m, int n, int k) {
        Matmul.requireBackwardWeight(dy, x, dw, m, n, k);
        if (m == 0 || n == 0 || k == 0) {
            return;
        }
        try (Staging st = new Staging(Cuda.get())) {
            backwardWeight(st.cuda(), st.in(dy.slice(0, (long) m * n)), st.in(x.slice(0, (long) m * k)),
                    st.inOut(dw.slice(0, (long) n * k)), m, n, k);
        }
    }
}
