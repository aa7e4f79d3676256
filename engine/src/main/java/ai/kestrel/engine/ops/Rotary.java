package ai.kestrel.engine.ops;

import ai.kestrel.engine.Autograd;
import ai.kestrel.engine.Tensor;
import ai.kestrel.kernels.rope.Rope;

/** Rotary position embeddings (NeoX style) and their gradient. */
public final class Rotary {
    private Rotary() {
    }

    /**
     * Rotates every head of {@code x (B, T, H, P)}: token {@code t} sits at position {@code start + t}; pair
     * {@code (i, i + P/2)} turns by {@code pos * theta^(-2i/P)}.
     */
    public static Tensor rope(Tensor x, int start, double theta) {
        Rope k = Dispatch.pick(Rope.REF, Rope.CPU, () -> CudaKernels.ROPE, "rope", x);
        if (x.rank() != 4) {
            throw new IllegalArgumentException("rope: input must be (B, T, H, P), got rank " + x.rank());
        }
        int b = x.dim(0);
        int t = x.dim(1);
        int h = x.dim(2);
        int p = x.dim(3);
        Tensor y = Tensor.emptyLike(x);
        k.forward(x.buf(), y.buf(), b, t, h, p, start, theta);
        return Autograd.record(y, "rope", (g, needs) -> {
            Tensor dx = Tensor.zerosLike(x);
            k.backward(g.buf(), dx.buf(), b, t, h, p, start, theta);
            return new Tensor[] {dx};
        }, x);
    }
}
