package ai.kestrel.engine.ops;

import ai.kestrel.engine.Autograd;
import ai.kestrel.engine.Tensor;
import ai.kestrel.kernels.elementwise.Elementwise;

/** Point-wise nonlinearities and their gradients. */
public final class Activations {
    private Activations() {
    }

    /** {@code x * sigmoid(x)} (the MLP and Mamba gate activation). */
    public static Tensor silu(Tensor x) {
        Elementwise k = Dispatch.pick(Elementwise.REF, Elementwise.CPU, () -> CudaKernels.ELEMENTWISE, "silu", x);
        Tensor y = Tensor.emptyLike(x);
        k.silu(x.buf(), y.buf(), x.numel());
        return Autograd.record(y, "silu", (g, needs) -> {
            Tensor dx = Tensor.zerosLike(x);
            k.siluBackward(g.buf(), x.buf(), dx.buf(), x.numel());
            return new Tensor[] {dx};
        }, x);
    }

    /** {@code log(1 + exp(x))}, PyTorch's softplus with threshold 20 (Mamba's dt activation). */
    public static Tensor softplus(Tensor x) {
        Elementwise k = Dispatch.pick(Elementwise.REF, Elementwise.CPU, () -> CudaKernels.ELEMENTWISE, "softplus", x);
        Tensor y = Tensor.emptyLike(x);
        k.softplus(x.buf(), y.buf(), x.numel());
        return Autograd.record(y, "softplus", (g, needs) -> {
            Tensor dx = Tensor.zerosLike(x);
            k.softplusBackward(g.buf(), x.buf(), dx.buf(), x.numel());
            return new Tensor[] {dx};
        }, x);
    }

    /** {@code exp(x)}. */
    public static Tensor exp(Tensor x) {
        Elementwise k = Dispatch.pick(Elementwise.REF, Elementwise.CPU, () -> CudaKernels.ELEMENTWISE, "exp", x);
        Tensor y = Tensor.emptyLike(x);
        k.exp(x.buf(), y.buf(), x.numel());
        return Autograd.record(y, "exp", (g, needs) -> {
            Tensor dx = Tensor.zerosLike(x);
            k.mul(g.buf(), y.buf(), dx.buf(), 1, Math.toIntExact(x.numel()), ai.kestrel.kernels.elementwise.Broadcast.NONE);
            return new Tensor[] {dx};
        }, x);
    }
}
