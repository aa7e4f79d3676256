package ai.kestrel.bench;

import static ai.kestrel.bench.GpuBench.add;
import static ai.kestrel.bench.GpuBench.median;
import static ai.kestrel.bench.GpuBench.randn;
import static ai.kestrel.bench.GpuBench.wanted;

import ai.kestrel.kernels.attention.Attention;
import ai.kestrel.kernels.cuda.AdamWCuda;
import ai.kestrel.kernels.cuda.AttentionCuda;
import ai.kestrel.kernels.cuda.CausalConv1dCuda;
import ai.kestrel.kernels.cuda.CrossEntropyCuda;
import ai.kestrel.kernels.cuda.Cuda;
import ai.kestrel.kernels.cuda.DevBuf;
import ai.kestrel.kernels.cuda.MatmulCuda;
import ai.kestrel.kernels.quant.Codecs;
import ai.kestrel.kernels.quant.WeightFormat;
import ai.kestrel.kernels.quant.Weights;
import ai.kestrel.kernels.cuda.RmsNormCuda;
import ai.kestrel.kernels.cuda.SelectiveScanCuda;
import ai.kestrel.kernels.cuda.SsdScanCuda;
import ai.kestrel.kernels.ssd.SsdScan;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The GPU benchmark cases at Falcon-H1-1.5B-Deep shapes (hidden 1280, Mamba-2 24 heads x 64, d_state 256, chunk
 * 128; training batch 2 x 512 tokens) and Falcon-Mamba-7B's scan (d_inner 8192, N 16). Memory-bound kernels are
 * reported in GB/s over the bytes they must move at least, against the copy ceiling.
 */
final class BenchCases {
    private BenchCases() {}

    static final int HIDDEN = 1280;
    static final int TOKENS = 2 * 512;

    static void run(Cuda c, double bw) {
        if (wanted("matmul")) {
            matmul(c, bw);
        }
        if (wanted("attention")) {
            attention(c, bw);
        }
        if (wanted("rmsnorm")) {
            int rows = TOKENS;
            try (DevBuf x = randn(c, (long) rows * HIDDEN, 1, 3); DevBuf w = randn(c, HIDDEN, 1, 4);
                 DevBuf y = c.alloc((long) rows * HIDDEN * 4); DevBuf rstd = c.alloc(rows * 4L);
                 DevBuf dx = c.alloc((long) rows * HIDDEN * 4); DevBuf dw = c.allocZeroed(HIDDEN * 4L)) {
                double f = median(c, () -> RmsNormCuda.forward(c, x, w, y, rstd, rows, HIDDEN, 1e-5f));
                add("rmsnorm forward", "(1024, 1280)", f, 8.0 * rows * HIDDEN, "GB/s", bw);
                double b = median(c, () -> RmsNormCuda.backward(c, y, x, w, rstd, dx, dw, rows, HIDDEN));
                add("rmsnorm backward", "(1024, 1280)", b, 12.0 * rows * HIDDEN, "GB/s", bw);
            }
        }
        if (wanted("conv1d")) {
            int b = 2, t = 512, ch = 1536 + 2 * 256, width = 4; // conv over x|B|C of the 1.5B-Deep mixer (d_ssm 1536)
            long n = (long) b * t * ch;
            try (DevBuf x = randn(c, n, 1, 5); DevBuf w = randn(c, (long) ch * width, 0.5, 6); DevBuf bias = randn(c, ch, 0.1, 7);
                 DevBuf y = c.alloc(n * 4); DevBuf dx = c.alloc(n * 4); DevBuf dw = c.allocZeroed((long) ch * width * 4);
                 DevBuf db = c.allocZeroed(ch * 4L)) {
                double f = median(c, () -> CausalConv1dCuda.forward(c, x, w, bias, null, y, null, b, t, ch, width));
                add("conv1d forward", "(2, 512, 2048) w4", f, 8.0 * n, "GB/s", bw);
                double g = median(c, () -> CausalConv1dCuda.backward(c, y, x, w, null, dx, dw, db, null, b, t, ch, width));
                add("conv1d backward", "(2, 512, 2048) w4", g, 12.0 * n, "GB/s", bw);
            }
        }
        if (wanted("ssd")) {
            SsdScan.Dims m = new SsdScan.Dims(2, 512, 24, 64, 1, 256, 128);
            long xs = (long) m.b() * m.t() * m.h() * m.p(), dts = (long) m.b() * m.t() * m.h(), bcs = (long) m.b() * m.t() * m.g() * m.n();
            try (DevBuf x = randn(c, xs, 1, 8); DevBuf dt = randn(c, dts, 1, 9); DevBuf dtb = randn(c, m.h(), 0.5, 10);
                 DevBuf a = negative(c, m.h()); DevBuf bm = randn(c, bcs, 1, 11); DevBuf cm = randn(c, bcs, 1, 12);
                 DevBuf d = randn(c, m.h(), 1, 13); DevBuf y = c.alloc(xs * 4); DevBuf dx = c.alloc(xs * 4);
                 DevBuf ddt = c.alloc(dts * 4); DevBuf ddtb = c.allocZeroed(m.h() * 4L); DevBuf da = c.allocZeroed(m.h() * 4L);
                 DevBuf db = c.alloc(bcs * 4); DevBuf dc = c.alloc(bcs * 4); DevBuf dd = c.allocZeroed(m.h() * 4L)) {
                double bytes = 4.0 * (2 * xs + dts + 2 * bcs);
                double fc = median(c, () -> SsdScanCuda.forward(c, x, dt, dtb, a, bm, cm, d, null, y, null, m, true));
                add("ssd scan forward (chunked)", "B2 T512 H24 P64 N256", fc, bytes, "GB/s", bw);
                double f = median(c, () -> SsdScanCuda.forward(c, x, dt, dtb, a, bm, cm, d, null, y, null, m, false));
                add("ssd scan forward (per step)", "B2 T512 H24 P64 N256", f, bytes, "GB/s", bw);
                double g = median(c, () -> SsdScanCuda.backward(c, y, x, dt, dtb, a, bm, cm, d, null, dx, ddt, ddtb, da, db, dc, dd, null, m));
                add("ssd scan backward", "B2 T512 H24 P64 N256", g, 4.0 * (3 * xs + 2 * dts + 4 * bcs), "GB/s", bw);
                add("ssd scan forward+backward", "B2 T512 H24 P64 N256", f + g, bytes + 4.0 * (3 * xs + 2 * dts + 4 * bcs), "GB/s", bw);
            }
        }
        if (wanted("selective")) {
            int b = 1, t = 512, din = 8192, n = 16;
            long xs = (long) b * t * din, bcs = (long) b * t * n;
            try (DevBuf x = randn(c, xs, 1, 14); DevBuf dt = randn(c, xs, 1, 15); DevBuf dtb = randn(c, din, 0.5, 16);
                 DevBuf a = negative(c, (long) din * n); DevBuf bm = randn(c, bcs, 1, 17); DevBuf cm = randn(c, bcs, 1, 18);
                 DevBuf d = randn(c, din, 1, 19); DevBuf y = c.alloc(xs * 4)) {
                double f = median(c, () -> SelectiveScanCuda.forward(c, x, dt, dtb, a, bm, cm, d, null, y, null, b, t, din, n));
                add("mamba-1 scan forward", "B1 T512 D8192 N16", f, 4.0 * (3 * xs + 2 * bcs), "GB/s", bw);
            }
        }
        if (wanted("cross-entropy")) {
            int rows = TOKENS, v = 65536;
            long n = (long) rows * v;
            try (Arena ar = Arena.ofConfined(); DevBuf logits = randn(c, n, 2, 20); DevBuf loss = c.alloc(rows * 4L);
                 DevBuf lse = c.alloc(rows * 4L); DevBuf dl = c.alloc(n * 4)) {
                MemorySegment lab = ar.allocate(rows * 4L);
                for (int r = 0; r < rows; r++) {
                    lab.setAtIndex(ValueLayout.JAVA_INT, r, (r * 7919) % v);
                }
                try (DevBuf labels = c.copyOf(lab)) {
                    double f = median(c, () -> CrossEntropyCuda.forward(c, logits, labels, rows, v, loss, lse));
                    add("cross-entropy forward", "(1024, 65536)", f, 4.0 * n, "GB/s", bw);
                    double g = median(c, () -> CrossEntropyCuda.backward(c, logits, labels, lse, 1f / rows, dl, rows, v));
                    add("cross-entropy backward", "(1024, 65536)", g, 8.0 * n, "GB/s", bw);
                }
            }
        }
        if (wanted("adamw")) {
            long n = 20L << 20; // the LoRA adapters of the 1.5B-Deep at rank 64 are ~20 M parameters
            try (DevBuf p = randn(c, n, 1, 21); DevBuf g = randn(c, n, 1, 22); DevBuf m = c.allocZeroed(n * 4);
                 DevBuf v = c.allocZeroed(n * 4)) {
                long[] t = {0};
                double f = median(c, () -> AdamWCuda.step(c, p, g, m, v, n, 1e-4, 0.9, 0.999, 1e-8, 0.01, ++t[0]));
                add("adamw step", "20 M params", f, 28.0 * n, "GB/s", bw);
            }
        }
    }

    /**
     * y = x·Wᵀ at the 1.5B-Deep's MLP and lm_head shapes: M = 1 (decode, GB/s over the weight bytes against the
     * copy ceiling) in every weight format, and M = 1024 (a training step's batch 2 x 512; TFLOP/s) for F32, BF16
     * (tensor cores) and NF4 (dequantized in the tiles).
     */
    static void matmul(Cuda c, double bw) {
        int[][] shapes = {{3072, 1280}, {1280, 3072}, {65536, 1280}};
        WeightFormat[] formats = {WeightFormat.F32, WeightFormat.BF16, WeightFormat.F16, WeightFormat.Q8_0, WeightFormat.NF4};
        for (int[] nk : shapes) {
            int n = nk[0], k = nk[1];
            float[] w = new float[n * k];
            java.util.SplittableRandom r = new java.util.SplittableRandom(n + k);
            for (int i = 0; i < w.length; i++) {
                w[i] = (float) (r.nextGaussian() * 0.02);
            }
            for (WeightFormat f : formats) {
                String shape = k + "->" + n + " " + f;
                try (Arena ar = Arena.ofConfined()) {
                    Weights wt = Codecs.encode(ar, w, n, k, f);
                    try (DevBuf wd = c.copyOf(wt.data()); DevBuf x1 = randn(c, k, 1, 1); DevBuf y1 = c.alloc(n * 4L)) {
                        double ms = median(c, () -> MatmulCuda.forward(c, x1, f, wd, n, k, null, y1, 1));
                        add("matmul M=1", shape, ms, (double) wt.data().byteSize(), "GB/s", bw);
                        if (f == WeightFormat.F32 || f == WeightFormat.BF16 || f == WeightFormat.NF4) {
                            int m = TOKENS;
                            try (DevBuf xm = randn(c, (long) m * k, 1, 2); DevBuf ym = c.alloc((long) m * n * 4)) {
                                if (MatmulCuda.usesTensorCores(f, m, k)) {
                                    for (String tile : new String[] {"64", "128"}) { // both tensor-core kernels, to pick one
                                        System.setProperty(MatmulCuda.WMMA_PROPERTY, tile);
                                        double g = median(c, () -> MatmulCuda.forward(c, xm, f, wd, n, k, null, ym, m));
                                        add("matmul M=1024 (tensor cores, " + tile + "x" + tile + ")", shape, g, 2.0 * m * n * k, "TFLOP/s", 0);
                                    }
                                    System.clearProperty(MatmulCuda.WMMA_PROPERTY);
                                } else {
                                    double g = median(c, () -> MatmulCuda.forward(c, xm, f, wd, n, k, null, ym, m));
                                    add("matmul M=1024", shape, g, 2.0 * m * n * k, "TFLOP/s", 0);
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /**
     * Causal attention with the 1.5B-Deep's heads (6 query / 2 key-value heads of 128): a training step's batch
     * 2 x 512 forward and backward (TFLOP/s over the causal half of the products), and decoding one token against
     * a 4096-token cache (GB/s over the cache bytes read).
     */
    static void attention(Cuda c, double bw) {
        int b = 2, t = 512, h = 6, kv = 2, p = 128;
        Attention.Dims m = new Attention.Dims(b, t, t, t, h, kv, p);
        long qs = (long) b * t * h * p, ks = (long) b * t * kv * p;
        float scale = (float) (1 / Math.sqrt(p));
        try (DevBuf q = randn(c, qs, 1, 30); DevBuf k = randn(c, ks, 1, 31); DevBuf v = randn(c, ks, 1, 32);
             DevBuf o = c.alloc(qs * 4); DevBuf lse = c.alloc((long) b * h * t * 4); DevBuf dq = c.alloc(qs * 4);
             DevBuf dk = c.alloc(ks * 4); DevBuf dv = c.alloc(ks * 4)) {
            double flops = 2.0 * 2 * b * h * ((double) t * (t + 1) / 2) * p; // q·k and p·v over the causal half
            double f = median(c, () -> AttentionCuda.forward(c, q, k, v, o, lse, m, scale));
            add("attention forward", "B2 T512 H6/2 P128", f, flops, "TFLOP/s", 0);
            double g = median(c, () -> AttentionCuda.backward(c, o, q, k, v, o, lse, dq, dk, dv, m, scale));
            add("attention backward", "B2 T512 H6/2 P128", g, 2.5 * flops, "TFLOP/s", 0);
        }
        int cap = 4096;
        Attention.Dims d = new Attention.Dims(1, 1, cap, cap, h, kv, p);
        try (DevBuf q = randn(c, (long) h * p, 1, 33); DevBuf k = randn(c, (long) cap * kv * p, 1, 34);
             DevBuf v = randn(c, (long) cap * kv * p, 1, 35); DevBuf o = c.alloc((long) h * p * 4)) {
            double f = median(c, () -> AttentionCuda.forward(c, q, k, v, o, null, d, scale));
            add("attention decode", "1 token, 4096 cached", f, 2.0 * cap * kv * p * 4, "GB/s", bw);
        }
    }

    /** {@code n} values in [-1.5, -0.05): decay rates A < 0. */
    static DevBuf negative(Cuda c, long n) {
        try (Arena ar = Arena.ofConfined()) {
            MemorySegment s = ar.allocate(n * 4);
            java.util.SplittableRandom r = new java.util.SplittableRandom(99);
            for (long i = 0; i < n; i++) {
                s.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) -(0.05 + 1.45 * r.nextDouble()));
            }
            return c.copyOf(s);
        }
    }
}
