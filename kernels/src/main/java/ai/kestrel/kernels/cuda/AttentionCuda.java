package ai.kestrel.kernels.cuda;

import ai.kestrel.kernels.Buf;
import ai.kestrel.kernels.attention.Attention;
import ai.kestrel.kernels.attention.Attention.Dims;

/**
 * {@link Attention} on the GPU ({@code attention.cu}), float32, a streaming softmax with no T x T matrix.
 *
 * <p>Forward: prompts (more than {@value #ROW_MAX_TQ} query rows) take {@code attn_fwd_tile}, one block of 256
 * threads per (64-query tile, query head, batch) with 32-key K/V tiles in shared memory. Decoding and short chunks
 * take {@code attn_row}, one block per (query row, query head, batch, split of the visible keys), the splits merged by
 * {@code attn_row_combine} when a row's keys are split to fill the GPU; head widths whose tiles do not fit shared
 * memory also take the row path.
 *
 * <p>Backward (FlashAttention-2's split): {@code attn_bwd_dot} gives {@code D = rowsum(dO * o)}; {@code attn_bwd_dq}
 * one block per (32-query tile, query head, batch); {@code attn_bwd_dkdv} one block per (32-key tile, KV head,
 * batch), summing over the query heads of the group, so no two blocks write the same row. Rows of dk/dv past
 * {@code tk} are not written.
 *
 * <p>Layouts as {@link Attention}: {@code q, o, dO, dq (B, Tq, H, P)}; {@code k, v, dk, dv (B, cap, KV, P)};
 * {@code lse (B, H, Tq)}. The static methods take device buffers; the interface methods stage host buffers.
 */
public final class AttentionCuda implements Attention {
    /** Query rows up to which the forward takes the row kernel. */
    static final int ROW_MAX_TQ = 8;
    private static final int THREADS = 256;
    private static final int ROW_THREADS = 128;
    private static final int ROW_KC = 64;
    /** Keys below which a row is not split. */
    private static final int MIN_SPLIT_KEYS = 256;

    private static int pp(int p) {
        return (p + 63) & ~63;
    }

    /** Dynamic shared memory of {@code attn_fwd_tile}: Q (64 rows), K, V (32 rows), O (64), scores 64 x 33, 3 x 64. */
    static long fwdSmem(int p) {
        long ld = pp(p) + 1;
        return 4 * (64 * ld + 2 * 32 * ld + 64L * pp(p) + 64 * 33 + 3 * 64);
    }

    /** Dynamic shared memory of {@code attn_bwd_dq}: Q, dO, K, V (32 rows each), dQ, dS 32 x 33, 2 x 32. */
    static long dqSmem(int p) {
        long ld = pp(p) + 1;
        return 4 * (4 * 32 * ld + 32L * pp(p) + 32 * 33 + 2 * 32);
    }

    /** Dynamic shared memory of {@code attn_bwd_dkdv}: K, V, Q, dO (32 rows each), dK, dV, P and dS 32 x 33, 2 x 32. */
    static long dkdvSmem(int p) {
        long ld = pp(p) + 1;
        return 4 * (4 * 32 * ld + 2 * 32L * pp(p) + 2 * 32 * 33 + 2 * 32);
    }

    /** Most dynamic shared memory one block may opt into, as the device reports it (227 KiB on sm_90, 163 on sm_80). */
    static long smemLimit(Cuda c) {
        return c.maxSharedBytes();
    }

    /** A launch on a (gx, gy, gz) grid of 1-D blocks; the argument array keeps the 3-D overload unambiguous. */
    private static void launch3(Cuda c, String kernel, long gx, int gy, int gz, int threads, long smem, Object... args) {
        c.launch(kernel, gx, gy, gz, threads, 1, (int) smem, args);
    }

    // ---- device buffers

    /**
     * {@code o = softmax(scale * q·kᵀ + causal mask)·v} and, unless {@code lse} is null, each row's log-sum-exp
     * {@code (B, H, Tq)}.
     */
    public static void forward(Cuda c, DevBuf q, DevBuf k, DevBuf v, DevBuf o, DevBuf lse, Dims m, float scale) {
        if (m.b() == 0 || m.tq() == 0) {
            return;
        }
        long smem = fwdSmem(m.p());
        if (m.tq() > ROW_MAX_TQ && smem <= smemLimit(c)) {
            launch3(c, "attn_fwd_tile", (m.tq() + 63) / 64, m.h(), m.b(), THREADS, smem,
                    q, k, v, o, lse, m.tq(), m.tk(), m.cap(), m.h(), m.kv(), m.p(), scale);
            return;
        }
        forwardRows(c, q, k, v, o, lse, m, scale);
    }

    /** The row path of {@link #forward}: one block per query row and split of its keys. */
    static void forwardRows(Cuda c, DevBuf q, DevBuf k, DevBuf v, DevBuf o, DevBuf lse, Dims m, float scale) {
        long rows = (long) m.b() * m.h() * m.tq();
        // splits of at least MIN_SPLIT_KEYS keys (a multiple of the chunk), enough blocks for two per multiprocessor
        int maxSplits = Math.max(1, m.tk() / MIN_SPLIT_KEYS);
        int ns = (int) Math.max(1, Math.min(maxSplits, Cuda.blocks(2L * c.multiprocessors(), (int) Math.min(rows, 1 << 30))));
        int chunk = (int) Cuda.blocks(Cuda.blocks(m.tk(), ns), ROW_KC) * ROW_KC;
        ns = (int) Cuda.blocks(m.tk(), chunk);
        int smem = 4 * (2 * m.p() + 2 * ROW_KC);
        if (ns == 1) {
            launch3(c, "attn_row", m.tq(), m.h(), m.b(), ROW_THREADS, smem,
                    q, k, v, o, lse, null, m.tq(), m.tk(), m.cap(), m.h(), m.kv(), m.p(), scale, 1, chunk);
            return;
        }
        try (DevBuf part = c.alloc(4 * rows * ns * (m.p() + 2))) {
            launch3(c, "attn_row", (long) m.tq() * ns, m.h(), m.b(), ROW_THREADS, smem,
                    q, k, v, o, lse, part, m.tq(), m.tk(), m.cap(), m.h(), m.kv(), m.p(), scale, ns, chunk);
            c.launch("attn_row_combine", rows, ROW_THREADS, 0, part, o, lse, m.tq(), m.h(), m.p(), ns);
        }
    }

    /**
     * Gradients from {@code dO}, the forward's {@code o} and {@code lse}: {@code dq}, {@code dk}, {@code dv}
     * overwritten (rows of dk/dv past {@code tk} untouched); any may be null.
     *
     * @throws IllegalArgumentException when the head width's tiles do not fit the device's shared memory
     */
    public static void backward(Cuda c, DevBuf dO, DevBuf q, DevBuf k, DevBuf v, DevBuf o, DevBuf lse,
                                DevBuf dq, DevBuf dk, DevBuf dv, Dims m, float scale) {
        if (m.b() == 0 || m.tq() == 0 || (dq == null && dk == null && dv == null)) {
            return;
        }
        long dqSmem = dqSmem(m.p()), dkdvSmem = dkdvSmem(m.p());
        if (Math.max(dqSmem, dkdvSmem) > smemLimit(c)) {
            throw new IllegalArgumentException("attention backward: head width " + m.p()
                    + " needs " + Math.max(dqSmem, dkdvSmem) + " bytes of shared memory per block, more than this GPU has");
        }
        long rows = (long) m.b() * m.tq() * m.h();
        try (DevBuf d = c.alloc(4 * rows)) {
            c.launch("attn_bwd_dot", Cuda.blocks(rows, THREADS / 32), THREADS, 0, dO, o, d, rows, m.p());
            if (dq != null) {
                launch3(c, "attn_bwd_dq", (m.tq() + 31) / 32, m.h(), m.b(), THREADS, dqSmem,
                        dO, q, k, v, lse, d, dq, m.tq(), m.tk(), m.cap(), m.h(), m.kv(), m.p(), scale);
            }
            if (dk != null || dv != null) {
                launch3(c, "attn_bwd_dkdv", (m.tk() + 31) / 32, m.kv(), m.b(), THREADS, dkdvSmem,
                        dO, q, k, v, lse, d, dk, dv, m.tq(), m.tk(), m.cap(), m.h(), m.kv(), m.p(), scale);
            }
        }
    }

    // ---- host buffers, staged

    private static long qElems(Dims m) {
        return (long) m.b() * m.tq() * m.h() * m.p();
    }

    private static long kElems(Dims m) {
        return (long) m.b() * m.cap() * m.kv() * m.p();
    }

    @Override
    public void forward(Buf q, Buf k, Buf v, Buf o, Buf lse, Dims m, double scale) {
        q.requireF32("q", qElems(m));
        k.requireF32("k", kElems(m));
        v.requireF32("v", kElems(m));
        o.requireF32("o", qElems(m));
        if (lse != null) {
            lse.requireF32("lse", (long) m.b() * m.h() * m.tq());
        }
        try (Staging s = new Staging(Cuda.get())) {
            forward(s.cuda(), s.in(q), s.in(k), s.in(v), s.inOut(o), s.inOut(lse), m, (float) scale);
        }
    }

    @Override
    public void backward(Buf dO, Buf q, Buf k, Buf v, Buf o, Buf lse, Buf dq, Buf dk, Buf dv, Dims m, double scale) {
        dO.requireF32("dO", qElems(m));
        q.requireF32("q", qElems(m));
        k.requireF32("k", kElems(m));
        v.requireF32("v", kElems(m));
        o.requireF32("o", qElems(m));
        lse.requireF32("lse", (long) m.b() * m.h() * m.tq());
        if (dq != null) {
            dq.requireF32("dq", qElems(m));
        }
        if (dk != null) {
            dk.requireF32("dk", kElems(m));
        }
        if (dv != null) {
            dv.requireF32("dv", kElems(m));
        }
        try (Staging s = new Staging(Cuda.get())) {
            // inOut: the host buffers may be longer than the tensors, and dk/dv rows past tk keep their values
            backward(s.cuda(), s.in(dO), s.in(q), s.in(k), s.in(v), s.in(o), s.in(lse),
                    s.inOut(dq), s.inOut(dk), s.inOut(dv), m, (float) scale);
        }
    }
}
