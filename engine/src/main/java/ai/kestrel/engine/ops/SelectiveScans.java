package ai.kestrel.engine.ops;

import ai.kestrel.engine.Autograd;
import ai.kestrel.engine.Tensor;
import ai.kestrel.kernels.scan.SelectiveScan;

/** Mamba-1's selective scan (Falcon-Mamba) with gradients, and its one-token recurrence. */
public final class SelectiveScans {
    private SelectiveScans() {
    }

    /** The scan output and the state after the last token (not differentiable). */
    public record Result(Tensor y, Tensor state) {
    }

    /**
     * The selective scan of {@link SelectiveScan}: {@code x, dt (B, T, Din)}, {@code dtBias (Din)} or null,
     * {@code a (Din, N)} negative, {@code bm, cm (B, T, N)}, {@code d (Din)} or null, {@code h0 (B, Din, N)} or
     * null. {@code y} is differentiable in every input.
     */
    public static Result scan(Tensor x, Tensor dt, Tensor dtBias, Tensor a, Tensor bm, Tensor cm, Tensor d, Tensor h0) {
        SelectiveScan k = Dispatch.pick(SelectiveScan.REF, SelectiveScan.CPU, () -> CudaKernels.SELECTIVE_SCAN, "selectiveScan", x, dt, dtBias, a, bm, cm, d, h0);
        int b = x.dim(0);
        int t = x.dim(1);
        int din = x.dim(2);
        int n = a.dim(1);
        Dispatch.shape("selectiveScan", "dt", dt, b, t, din);
        Dispatch.shape("selectiveScan", "A", a, din, n);
        Dispatch.shape("selectiveScan", "B", bm, b, t, n);
        Dispatch.shape("selectiveScan", "C", cm, b, t, n);
        if (dtBias != null) {
            Dispatch.shape("selectiveScan", "dt bias", dtBias, din);
        }
        if (d != null) {
            Dispatch.shape("selectiveScan", "D", d, din);
        }
        if (h0 != null) {
            Dispatch.shape("selectiveScan", "initial state", h0, b, din, n);
        }
        Tensor y = Tensor.emptyLike(x);
        Tensor hT = Tensor.zeros(ai.kestrel.engine.Scope.current(), x.device(), x.dtype(), b, din, n);
        k.forward(x.buf(), dt.buf(), Dispatch.buf(dtBias), a.buf(), bm.buf(), cm.buf(), Dispatch.buf(d), Dispatch.buf(h0), y.buf(), hT.buf(), b, t, din, n);
        Autograd.record(y, "selectiveScan", (g, needs) -> {
            Tensor[] out = new Tensor[8];
            Tensor[] ins = {x, dt, dtBias, a, bm, cm, d, h0};
            for (int i = 0; i < 8; i++) {
                out[i] = needs[i] ? Tensor.zerosLike(ins[i]) : null;
            }
            k.backward(g.buf(), x.buf(), dt.buf(), Dispatch.buf(dtBias), a.buf(), bm.buf(), cm.buf(), Dispatch.buf(d), Dispatch.buf(h0),
                    Dispatch.buf(out[0]), Dispatch.buf(out[1]), Dispatch.buf(out[2]), Dispatch.buf(out[3]), Dispatch.buf(out[4]),
                    Dispatch.buf(out[5]), Dispatch.buf(out[6]), Dispatch.buf(out[7]), b, t, din, n);
            return out;
        }, x, dt, dtBias, a, bm, cm, d, h0);
        return new Result(y, hT);
    }

    /**
     * One token (no gradient): {@code x, dt (B, Din)}, {@code bm, cm (B, N)}, state {@code h (B, Din, N)} updated
     * in place; returns {@code y (B, Din)}.
     */
    public static Tensor step(Tensor x, Tensor dt, Tensor dtBias, Tensor a, Tensor bm, Tensor cm, Tensor d, Tensor h) {
        SelectiveScan k = Dispatch.pick(SelectiveScan.REF, SelectiveScan.CPU, () -> CudaKernels.SELECTIVE_SCAN, "selectiveScan step", x, dt, dtBias, a, bm, cm, d, h);
        int b = x.dim(0);
        int din = x.dim(1);
        int n = a.dim(1);
        Dispatch.shape("selectiveScan step", "state", h, b, din, n);
        Tensor y = Tensor.emptyLike(x);
        k.step(x.buf(), dt.buf(), Dispatch.buf(dtBias), a.buf(), bm.buf(), cm.buf(), Dispatch.buf(d), h.buf(), y.buf(), b, din, n);
        return y;
    }
}
