package ai.kestrel.engine.ops;

import ai.kestrel.engine.Autograd;
import ai.kestrel.engine.DType;
import ai.kestrel.engine.Device;
import ai.kestrel.engine.Tensor;
import ai.kestrel.kernels.attention.Attention;

/** Causal grouped-query attention with gradients, and attention over a KV cache for generation. */
public final class Attentions {
    private Attentions() {
    }

    /**
     * Causal attention of {@code q (B, T, H, P)} over {@code k, v (B, T, KV, P)}, {@code H} a multiple of
     * {@code KV}; {@code scale} multiplies the scores (Falcon-H1: {@code P^-0.5}). Result {@code (B, T, H, P)},
     * differentiable in q, k and v.
     */
    public static Tensor causal(Tensor q, Tensor k, Tensor v, double scale) {
        Attention kern = Dispatch.pick(Attention.REF, Attention.CPU, () -> CudaKernels.ATTENTION, "attention", q, k, v);
        if (q.rank() != 4 || k.rank() != 4) {
            throw new IllegalArgumentException("attention: q must be (B, T, H, P), k and v (B, T, KV, P)");
        }
        Attention.Dims m = Attention.Dims.causal(q.dim(0), q.dim(1), q.dim(2), k.dim(2), q.dim(3));
        Dispatch.shape("attention", "k", k, m.b(), m.tk(), m.kv(), m.p());
        Dispatch.shape("attention", "v", v, m.b(), m.tk(), m.kv(), m.p());
        Tensor o = Tensor.zerosLike(q);
        Tensor lse = Tensor.zeros(ai.kestrel.engine.Scope.current(), q.device(), q.dtype(), m.b(), m.h(), m.tq());
        kern.forward(q.buf(), k.buf(), v.buf(), o.buf(), lse.buf(), m, scale);
        return Autograd.record(o, "attention", (g, needs) -> {
            Tensor dq = needs[0] ? Tensor.zerosLike(q) : null;
            Tensor dk = needs[1] ? Tensor.zerosLike(k) : null;
            Tensor dv = needs[2] ? Tensor.zerosLike(v) : null;
            kern.backward(g.buf(), q.buf(), k.buf(), v.buf(), o.buf(), lse.buf(), Dispatch.buf(dq), Dispatch.buf(dk), Dispatch.buf(dv), m, scale);
            return new Tensor[] {dq, dk, dv};
        }, q, k, v);
    }

    /**
     * Attention of {@code q (B, Tq, H, P)} (the newest {@code Tq} tokens, already appended to the cache) over
     * the first {@code length} rows of a cache {@code kCache, vCache (B, capacity, KV, P)}; no gradient. The cache
     * is F32 like {@code q}, or F16 (both keys and values; host memory only), read as float32.
     */
    public static Tensor cached(Tensor q, Tensor kCache, Tensor vCache, int length, double scale) {
        Attention kern;
        if (kCache.dtype() == DType.F16 || vCache.dtype() == DType.F16) {
            if (kCache.dtype() != vCache.dtype()) {
                throw new IllegalArgumentException("cached attention: the key cache is " + kCache.dtype() + " and the value cache "
                        + vCache.dtype() + "; they must agree");
            }
            if (q.device() == Device.CUDA || kCache.device() == Device.CUDA || vCache.device() == Device.CUDA) {
                throw new UnsupportedOperationException("cached attention: an F16 KV cache is read on the CPU only (no CUDA kernel reads"
                        + " one yet); use an F32 cache with a model on the GPU");
            }
            kern = Dispatch.computeType("cached attention", q) == DType.F64 ? Attention.REF : Attention.CPU;
        } else {
            kern = Dispatch.pick(Attention.REF, Attention.CPU, () -> CudaKernels.ATTENTION, "cached attention", q, kCache, vCache);
        }
        Attention.Dims m = new Attention.Dims(q.dim(0), q.dim(1), length, kCache.dim(1), q.dim(2), kCache.dim(2), q.dim(3));
        Dispatch.shape("cached attention", "value cache", vCache, kCache.shape());
        Tensor o = Tensor.zerosLike(q);
        kern.forward(q.buf(), kCache.buf(), vCache.buf(), o.buf(), null, m, scale);
        return o;
    }
}
