package ai.kestrel.engine.ops;

import ai.kestrel.engine.Autograd;
import ai.kestrel.engine.Tensor;
import ai.kestrel.kernels.ssd.SsdScan;

/** Mamba-2's SSD scan with gradients (chunked), and its one-token recurrence for generation. */
public final class Ssd {
    private Ssd() {
    }

    /** The scan output and the state after the last token (not differentiable). */
    public record Result(Tensor y, Tensor state) {
    }

    /**
     * The scan of {@link SsdScan}: {@code x (B, T, H, P)}, {@code dt (B, T, H)} raw, {@code dtBias (H)} or null,
     * {@code a (H)} negative, {@code bm, cm (B, T, G, N)}, {@code d (H)} or null, {@code s0 (B, H, P, N)} or
     * null; {@code chunk} is the chunk length. {@code y} is differentiable in every input.
     */
    public static Result scan(Tensor x, Tensor dt, Tensor dtBias, Tensor a, Tensor bm, Tensor cm, Tensor d, Tensor s0, int chunk) {
        SsdScan k = Dispatch.pick(SsdScan.REF, SsdScan.CPU, () -> CudaKernels.SSD, "ssd", x, dt, dtBias, a, bm, cm, d, s0);
        if (x.rank() != 4 || bm.rank() != 4) {
            throw new IllegalArgumentException("ssd: x must be (B, T, H, P) and B, C (B, T, G, N)");
        }
        SsdScan.Dims m = new SsdScan.Dims(x.dim(0), x.dim(1), x.dim(2), x.dim(3), bm.dim(2), bm.dim(3), chunk);
        Dispatch.shape("ssd", "dt", dt, m.b(), m.t(), m.h());
        Dispatch.shape("ssd", "A", a, m.h());
        Dispatch.shape("ssd", "B", bm, m.b(), m.t(), m.g(), m.n());
        Dispatch.shape("ssd", "C", cm, m.b(), m.t(), m.g(), m.n());
        if (dtBias != null) {
            Dispatch.shape("ssd", "dt bias", dtBias, m.h());
        }
        if (d != null) {
            Dispatch.shape("ssd", "D", d, m.h());
        }
        if (s0 != null) {
            Dispatch.shape("ssd", "initial state", s0, m.b(), m.h(), m.p(), m.n());
        }
        Tensor y = Tensor.emptyLike(x);
        Tensor sT = Tensor.zeros(ai.kestrel.engine.Scope.current(), x.device(), x.dtype(), m.b(), m.h(), m.p(), m.n());
        k.forward(x.buf(), dt.buf(), Dispatch.buf(dtBias), a.buf(), bm.buf(), cm.buf(), Dispatch.buf(d), Dispatch.buf(s0), y.buf(), sT.buf(), m);
        Autograd.record(y, "ssd", (g, needs) -> {
            Tensor[] ins = {x, dt, dtBias, a, bm, cm, d, s0};
            Tensor[] out = new Tensor[ins.length];
            for (int i = 0; i < ins.length; i++) {
                out[i] = needs[i] ? Tensor.zerosLike(ins[i]) : null;
            }
            k.backward(g.buf(), x.buf(), dt.buf(), Dispatch.buf(dtBias), a.buf(), bm.buf(), cm.buf(), Dispatch.buf(d), Dispatch.buf(s0),
                    Dispatch.buf(out[0]), Dispatch.buf(out[1]), Dispatch.buf(out[2]), Dispatch.buf(out[3]), Dispatch.buf(out[4]),
                    Dispatch.buf(out[5]), Dispatch.buf(out[6]), Dispatch.buf(out[7]), m);
            return out;
        }, x, dt, dtBias, a, bm, cm, d, s0);
        return new Result(y, sT);
    }

    /**
     * One token (no gradient): {@code x (B, H, P)}, {@code dt (B, H)}, {@code bm, cm (B, G, N)}, state
     * {@code (B, H, P, N)} updated in place; returns {@code y (B, H, P)}.
     */
    public static Tensor step(Tensor x, Tensor dt, Tensor dtBias, Tensor a, Tensor bm, Tensor cm, Tensor d, Tensor state) {
        SsdScan k = Dispatch.pick(SsdScan.REF, SsdScan.CPU, () -> CudaKernels.SSD, "ssd step", x, dt, dtBias, a, bm, cm, d, state);
        SsdScan.Dims m = new SsdScan.Dims(x.dim(0), 1, x.dim(1), x.dim(2), bm.dim(1), bm.dim(2), 1);
        Dispatch.shape("ssd step", "state", state, m.b(), m.h(), m.p(), m.n());
        Tensor y = Tensor.emptyLike(x);
        k.step(x.buf(), dt.buf(), Dispatch.buf(dtBias), a.buf(), bm.buf(), cm.buf(), Dispatch.buf(d), state.buf(), y.buf(), m);
        return y;
    }
}
