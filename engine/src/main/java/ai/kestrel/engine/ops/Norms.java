package ai.kestrel.engine.ops;

import ai.kestrel.engine.Autograd;
import ai.kestrel.engine.Tensor;
import ai.kestrel.kernels.norm.GatedRmsNorm;
import ai.kestrel.kernels.norm.RmsNorm;

/** Normalisations and their gradients. */
public final class Norms {
    private Norms() {
    }

    /**
     * RMSNorm over the last dimension: {@code w * x / sqrt(mean(x^2) + eps)}.
     *
     * @param x (..., D)
     * @param w (D)
     */
    public static Tensor rmsNorm(Tensor x, Tensor w, double eps) {
        RmsNorm k = Dispatch.pick(RmsNorm.REF, RmsNorm.CPU, () -> CudaKernels.RMS_NORM, "rmsNorm", x, w);
        int d = x.dim(-1);
        Dispatch.shape("rmsNorm", "weight", w, d);
        int rows = Dispatch.rows(x);
        Tensor y = Tensor.emptyLike(x);
        Tensor rstd = Tensor.zeros(ai.kestrel.engine.Scope.current(), x.device(), x.dtype(), rows);
        k.forward(x.buf(), w.buf(), y.buf(), rstd.buf(), rows, d, (float) eps);
        return Autograd.record(y, "rmsNorm", (g, needs) -> {
            Tensor dx = needs[0] ? Tensor.zerosLike(x) : null;
            Tensor dw = needs[1] ? Tensor.zerosLike(w) : null;
            k.backward(g.buf(), x.buf(), w.buf(), rstd.buf(), Dispatch.buf(dx), Dispatch.buf(dw), rows, d);
            return new Tensor[] {dx, dw};
        }, x, w);
    }

    /**
     * Mamba-2's gated grouped RMSNorm: {@code g = x * silu(z)}, then RMSNorm within each of {@code groups}
     * groups of the last dimension, scaled by {@code w}.
     *
     * @param x (..., D) the SSM output
     * @param z (..., D) the gate
     * @param w (D)
     */
    public static Tensor gatedRmsNorm(Tensor x, Tensor z, Tensor w, int groups, double eps) {
        GatedRmsNorm k = Dispatch.pick(GatedRmsNorm.REF, GatedRmsNorm.CPU, () -> CudaKernels.GATED_RMS_NORM, "gatedRmsNorm", x, z, w);
        int d = x.dim(-1);
        if (!x.sameShape(z)) {
            throw new IllegalArgumentException("gatedRmsNorm: x and z shapes differ");
        }
        Dispatch.shape("gatedRmsNorm", "weight", w, d);
        GatedRmsNorm.groupSize(d, groups);
        int rows = Dispatch.rows(x);
        Tensor y = Tensor.emptyLike(x);
        Tensor rstd = Tensor.zeros(ai.kestrel.engine.Scope.current(), x.device(), x.dtype(), rows, groups);
        k.forward(x.buf(), z.buf(), w.buf(), y.buf(), rstd.buf(), rows, d, groups, (float) eps);
        return Autograd.record(y, "gatedRmsNorm", (g, needs) -> {
            Tensor dx = needs[0] ? Tensor.zerosLike(x) : null;
            Tensor dz = needs[1] ? Tensor.zerosLike(z) : null;
            Tensor dw = needs[2] ? Tensor.zerosLike(w) : null;
            k.backward(g.buf(), x.buf(), z.buf(), w.buf(), rstd.buf(), Dispatch.buf(dx), Dispatch.buf(dz), Dispatch.buf(dw), rows, d, groups);
            return new Tensor[] {dx, dz, dw};
        }, x, z, w);
    }
}
