package ai.kestrel.kernels.matmul;

import ai.kestrel.kernels.Buf;
import ai.kestrel.kernels.Parallel;
import ai.kestrel.kernels.quant.HalfRounding;
import ai.kestrel.kernels.quant.Q8Activations;
import ai.kestrel.kernels.quant.WeightFormat;
import ai.kestrel.kernels.quant.Weights;
import java.lang.foreign.MemorySegment;

/**
 * Vector API {@link Matmul}. Few rows ({@code m <= }{@value #GEMV_MAX_ROWS}, decoding) take the streaming
 * path ({@link Gemv}: each weight byte read once); more rows take the blocked, packed GEMM ({@link Gemm}).
 * Both backward products always take the GEMM (training has many rows).
 */
final class MatmulCpu implements Matmul {
    /** Up to this many rows the bandwidth-bound path wins: it never packs (transposes) the weights. */
    static final int GEMV_MAX_ROWS = 16;

    private static void check(Weights w) {
        if (w.format() == WeightFormat.F64) {
            throw new IllegalArgumentException("the fast matmul takes F32/F16/BF16/Q8_0 weights, got F64 (use the reference)");
        }
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
        if (m <= GEMV_MAX_ROWS) {
            Gemv.forward(x, w, bias, y, m);
            return;
        }
        float[] ap = packedInput(x, w, m, k);
        Gemm.run(ap, m, k, n, WeightPanels.transposed(w), y.seg(), bias == null ? null : bias.seg(), false);
    }

    @Override
    public void forwardAdd(Buf x, Weights w, Buf r, Buf y, int m) {
        check(w);
        int n = w.n();
        int k = w.k();
        Matmul.requireForward(x, w, null, y, m);
        r.requireF32("r", (long) m * n);
        if (m == 0 || n == 0) {
            return;
        }
        if (m <= GEMV_MAX_ROWS) {
            // decoding: the product into this thread's scratch (not an array per token and wrapped product), then
            // the sum (r may be y)
            int mn = m * n;
            float[] t = Gemm.buffer(4, mn);
            Gemv.forward(x, w, null, Buf.f32(MemorySegment.ofArray(t)), m);
            MemorySegment rs = r.seg();
            MemorySegment ys = y.seg();
            for (int i = 0; i < mn; i++) {
                ys.setAtIndex(Buf.F32, i, rs.getAtIndex(Buf.F32, i) + t[i]);
            }
            return;
        }
        float[] ap = packedInput(x, w, m, k);
        Gemm.run(ap, m, k, n, WeightPanels.transposed(w), y.seg(), null, r.seg(), false);
    }

    /**
     * One product over the reduction {@code [x | h]} against {@code [W | U]}: x and h packed side by side, each
     * rounded as its weight asks, and the weight panels of both stacked ({@link WeightPanels#concat}). Few rows take
     * {@link Gemv} for W, then {@link #forwardAdd} for U.
     */
    @Override
    public void forwardPair(Buf x, Weights w, Buf h, Weights u, Buf y, int m) {
        check(w);
        check(u);
        Matmul.requirePair(x, w, h, u, y, m);
        int n = w.n();
        int k = w.k();
        int r = u.k();
        if (m == 0 || n == 0) {
            return;
        }
        if (m <= GEMV_MAX_ROWS || r == 0) {
            forward(x, w, null, y, m);
            forwardAdd(h, u, y, y, m);
            return;
        }
        int total = Math.addExact(k, r);
        float[] ap = Gemm.buffer(2, Gemm.packedSize(m, total));
        Gemm.packA(rounded(x, w, m, k, 3), m, k, total, 0, ap);
        Gemm.packA(rounded(h, u, m, r, 4), m, r, total, k, ap);
        Gemm.run(ap, m, total, n, WeightPanels.concat(WeightPanels.transposed(w), k, WeightPanels.transposed(u)), y.seg(), null, false);
    }

    /**
     * {@code x (m, k)} packed for {@link Gemm#run}, first rounded as {@code w} asks ({@link Weights#roundsInput}), in
     * this thread's reusable array (valid until the next call).
     */
    private static float[] packedInput(Buf x, Weights w, int m, int k) {
        return Gemm.packA(rounded(x, w, m, k, 3), m, k, Gemm.buffer(2, Gemm.packedSize(m, k)));
    }

    /**
     * {@code x (m, k)} as {@code w}'s product reads it: itself, or a copy rounded as {@code w} asks
     * ({@link Weights#roundsInput}) in this thread's reusable array {@code slot} (valid until the next call).
     */
    private static MemorySegment rounded(Buf x, Weights w, int m, int k, int slot) {
        MemorySegment xs = x.seg();
        if (w.roundsInput()) {
            // a copy rounded in place, rows split between the threads, in the thread's reusable array (not a new
            // m x k array per call: a prefill's garbage grows the heap)
            float[] rows = Gemm.buffer(slot, m * k);
            MemorySegment.copy(xs, Buf.F32, 0, rows, 0, m * k);
            WeightFormat f = w.format();
            Parallel.range(m, Math.max(1, (16 << 10) / k), (lo, hi) -> {
                for (int i = lo; i < hi; i++) {
                    if (f == WeightFormat.Q8_0) {
                        Q8Activations.round(rows, i * k, k, rows, i * k);
                    } else {
                        HalfRounding.round(f, rows, i * k, k, rows, i * k);
                    }
                }
            });
            xs = MemorySegment.ofArray(rows).asSlice(0, (long) m * k * 4);
        }
        return xs;
    }

    /** What {@link #packedInput} makes of x for {@code w}: the same for weights that round x alike (or not at all). */
    private static WeightFormat rounding(Weights w) {
        return w.roundsInput() ? w.format() : null;
    }

    @Override
    public void forwardMany(Buf x, Weights[] ws, Buf[] biases, Buf[] ys, int m) {
        for (Weights w : ws) {
            check(w);
        }
        Matmul.requireMany(x, ws, biases, ys, m);
        if (m > GEMV_MAX_ROWS && ws.length > 1) {
            // x rounded and packed once for a run of matrices that read it alike (a Falcon-H1 layer's in_proj, q, k
            // and v; gate and up), not once per matrix: the q8_0 1.5B-Deep's 512-token prefill 1.018x (median of seven
            // rounds alternating in one JVM, 0.88-1.09; Zen 3, 2026-12-02)
            int k = ws[0].k();
            float[] ap = null;
            for (int i = 0; i < ws.length; i++) {
                if (ap == null || rounding(ws[i]) != rounding(ws[i - 1])) {
                    ap = packedInput(x, ws[i], m, k);
                }
                if (ws[i].n() > 0) {
                    Gemm.run(ap, m, k, ws[i].n(), WeightPanels.transposed(ws[i]), ys[i].seg(), biases == null || biases[i] == null ? null
                            : biases[i].seg(), false);
                }
            }
        } else if (m == 0 || ws.length <= 1) {
            Matmul.super.forwardMany(x, ws, biases, ys, m);
        } else {
            Gemv.forwardMany(x, ws, biases, ys, m);
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
        if (n == 0) {
            if (!accumulate) {
                dx.seg().asSlice(0, (long) m * k * 4).fill((byte) 0);
            }
            return;
        }
        float[] ap = Gemm.packA(dy.seg(), m, n, Gemm.buffer(2, Gemm.packedSize(m, n)));
        Gemm.run(ap, m, n, k, WeightPanels.direct(w), dx.seg(), null, accumulate);
    }

    @Override
    public void backwardWeight(Buf dy, Buf x, Buf dw, int m, int n, int k) {
        Matmul.requireBackwardWeight(dy, x, dw, m, n, k);
        if (m == 0 || n == 0 || k == 0) {
            return;
        }
        // dW (N, K) += dYᵀ (N, M) · X (M, K): A is dY transposed, B is X as it lies
        float[] ap = Gemm.packATransposed(dy.seg(), n, m, Gemm.buffer(2, Gemm.packedSize(n, m)));
        Gemm.run(ap, n, m, k, WeightPanels.direct(Weights.of(x, m, k)), dw.seg(), null, true);
    }
}
