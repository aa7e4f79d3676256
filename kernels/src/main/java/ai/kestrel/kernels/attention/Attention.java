package ai.kestrel.kernels.attention;

import ai.kestrel.kernels.Buf;

/**
 * Causal scaled-dot-product attention with grouped-query heads, as Hugging Face's eager attention for
 * Falcon-H1 (no dropout, no mask beyond causality): query head {@code h} reads key/value head
 * {@code h / (H / KV)}; query row {@code i} sits at position {@code Tk - Tq + i} and attends to keys
 * {@code 0..Tk-Tq+i}. {@code Tq == Tk} is a prompt (or training); {@code Tq = 1} is one decoding step against a
 * cache; in between, a chunk of prompt appended to a cache.
 *
 * <p>Shapes: {@code q, o, dO, dq (B, Tq, H, P)}; {@code k, v, dk, dv (B, cap, KV, P)} of which the first
 * {@code Tk} rows are used: a KV cache of capacity {@code cap} is passed as it lies, no copy;
 * {@code lse (B, H, Tq)} the log-sum-exp of each row's scaled scores, written by forward for backward.
 */
public interface Attention {
    /** The reference: explicit scores and softmax per row, in double; float32 and float64 buffers. */
    Attention REF = new AttentionRef();
    /** Streaming (online) softmax over keys, no T x T matrix, Vector API, rows in parallel; float32 only. */
    Attention CPU = new AttentionCpu();

    /** {@code o = softmax(scale * q·kᵀ + causal mask)·v}; {@code lse} may be {@code null}. */
    void forward(Buf q, Buf k, Buf v, Buf o, Buf lse, Dims dims, double scale);

    /**
     * Gradients given {@code dO}, from the forward's {@code o} and {@code lse}: {@code dq}, {@code dk},
     * {@code dv} overwritten (rows past {@code Tk} of dk/dv are left as they are); any may be {@code null}.
     */
    void backward(Buf dO, Buf q, Buf k, Buf v, Buf o, Buf lse, Buf dq, Buf dk, Buf dv, Dims dims, double scale);

    /**
     * Batch, query rows, keys in use, key rows allocated ({@code cap >= tk}), query heads, key/value heads,
     * head width.
     */
    record Dims(int b, int tq, int tk, int cap, int h, int kv, int p) {
        public Dims {
            if (b < 0 || tq < 0 || tk < tq || cap < tk || h < 1 || kv < 1 || p < 1 || h % kv != 0) {
                throw new IllegalArgumentException("bad attention dimensions " + this
                        + " (need tq <= tk <= cap and heads a multiple of kv heads)");
            }
        }

        /** Prompt or training: every row attends to the rows before it, buffers exactly {@code T} long. */
        public static Dims causal(int b, int t, int h, int kv, int p) {
            return new Dims(b, t, t, t, h, kv, p);
        }

        /** The key/value head of query head {@code hh}. */
        public int kvHead(int hh) {
            return hh / (h / kv);
        }

        /** Index of the first element of query row {@code i} of head {@code hh}. */
        public long qOff(int bb, int i, int hh) {
            return (((long) bb * tq + i) * h + hh) * p;
        }

        /** Index of the first element of key row {@code j} of key/value head {@code g}. */
        public long kOff(int bb, int j, int g) {
            return (((long) bb * cap + j) * kv + g) * p;
        }

        /** The last key row query row {@code i} may see. */
        public int lastKey(int i) {
            return tk - tq + i;
        }
    }
}
