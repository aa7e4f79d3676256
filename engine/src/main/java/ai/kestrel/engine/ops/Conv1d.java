package ai.kestrel.engine.ops;

import ai.kestrel.engine.Autograd;
import ai.kestrel.engine.Tensor;
import ai.kestrel.kernels.conv.CausalConv1d;

/** The Mamba mixers' causal depthwise conv1d, with gradients, and its streaming form for generation. */
public final class Conv1d {
    private Conv1d() {
    }

    /** A convolution's output and the conv state to continue from (the last {@code W-1} inputs). */
    public record Result(Tensor y, Tensor state) {
    }

    /**
     * {@code y = causal_conv1d(x, w) + bias} over {@code x (B, T, C)} with {@code w (C, W)} and {@code bias (C)} or
     * {@code null}; inputs before the first token are zeros. Differentiable in {@code x}, {@code w}, {@code bias}.
     */
    public static Tensor causal(Tensor x, Tensor w, Tensor bias) {
        return causal(x, w, bias, null).y();
    }

    /**
     * As {@link #causal(Tensor, Tensor, Tensor)}, continuing from {@code state0 (B, W-1, C)} (or zeros when
     * {@code null}) and also returning the state after the last token (not differentiable).
     */
    public static Result causal(Tensor x, Tensor w, Tensor bias, Tensor state0) {
        CausalConv1d k = Dispatch.pick(CausalConv1d.REF, CausalConv1d.CPU, () -> CudaKernels.CONV1D, "conv1d", x, w, bias, state0);
        if (x.rank() != 3 || w.rank() != 2) {
            throw new IllegalArgumentException("conv1d: x must be (B, T, C) and w (C, W)");
        }
        int b = x.dim(0);
        int t = x.dim(1);
        int c = x.dim(2);
        int width = w.dim(1);
        Dispatch.shape("conv1d", "weight", w, c, width);
        if (bias != null) {
            Dispatch.shape("conv1d", "bias", bias, c);
        }
        if (state0 != null) {
            Dispatch.shape("conv1d", "state", state0, b, width - 1, c);
        }
        Tensor y = Tensor.emptyLike(x);
        Tensor state = Tensor.zeros(ai.kestrel.engine.Scope.current(), x.device(), x.dtype(), b, width - 1, c);
        k.forward(x.buf(), w.buf(), Dispatch.buf(bias), Dispatch.buf(state0), y.buf(), state.buf(), b, t, c, width);
        Autograd.record(y, "conv1d", (g, needs) -> {
            Tensor dx = needs[0] ? Tensor.zerosLike(x) : null;
            Tensor dw = needs[1] ? Tensor.zerosLike(w) : null;
            Tensor db = needs[2] ? Tensor.zerosLike(bias) : null;
            Tensor ds = needs[3] ? Tensor.zerosLike(state0) : null;
            k.backward(g.buf(), x.buf(), w.buf(), Dispatch.buf(state0), Dispatch.buf(dx), Dispatch.buf(dw), Dispatch.buf(db),
                    Dispatch.buf(ds), b, t, c, width);
            return new Tensor[] {dx, dw, db, ds};
        }, x, w, bias, state0);
        return new Result(y, state);
    }

    /**
     * One token for generation (no gradient): {@code x (B, C)}, {@code state (B, W-1, C)} updated in place;
     * returns {@code y (B, C)}.
     */
    public static Tensor step(Tensor x, Tensor w, Tensor bias, Tensor state) {
        CausalConv1d k = Dispatch.pick(CausalConv1d.REF, CausalConv1d.CPU, () -> CudaKernels.CONV1D, "conv1d step", x, w, bias, state);
        int b = x.dim(0);
        int c = x.dim(1);
        int width = w.dim(1);
        Dispatch.shape("conv1d step", "state", state, b, width - 1, c);
        Tensor y = Tensor.emptyLike(x);
        k.step(x.buf(), w.buf(), Dispatch.buf(bias), state.buf(), y.buf(), b, c, width);
        return y;
    }
}
