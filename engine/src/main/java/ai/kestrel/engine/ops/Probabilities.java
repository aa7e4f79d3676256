package ai.kestrel.engine.ops;

import ai.kestrel.engine.Autograd;
import ai.kestrel.engine.Tensor;
import ai.kestrel.kernels.softmax.Softmax;

/** Softmax and its gradient. */
public final class Probabilities {
    private Probabilities() {
    }

    /** Softmax over the last dimension of {@code x (..., D)}. */
    public static Tensor softmax(Tensor x) {
        Softmax k = Dispatch.pick(Softmax.REF, Softmax.CPU, () -> CudaKernels.SOFTMAX, "softmax", x);
        int d = x.dim(-1);
        int rows = Dispatch.rows(x);
        Tensor y = Tensor.emptyLike(x);
        k.forward(x.buf(), y.buf(), rows, d);
        return Autograd.record(y, "softmax", (g, needs) -> {
            Tensor dx = Tensor.zerosLike(x);
            k.backward(g.buf(), y.buf(), dx.buf(), rows, d);
            return new Tensor[] {dx};
        }, x);
    }
}
