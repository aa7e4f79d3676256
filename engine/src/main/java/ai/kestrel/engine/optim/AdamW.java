package ai.kestrel.engine.optim;

import ai.kestrel.engine.DType;
import ai.kestrel.engine.Scope;
import ai.kestrel.engine.Tensor;
import java.util.ArrayList;
import java.util.List;

/**
 * AdamW over a list of parameters, as {@code torch.optim.AdamW} (decoupled weight decay, bias correction).
 * Its moment estimates live in a scope the optimizer owns; {@link #close()} frees them. The learning rate is
 * settable per step, for schedules. State ({@link #stepCount()}, {@link #moments()}) is exposed for checkpoints.
 */
public final class AdamW implements AutoCloseable {
    private final List<Tensor> params;
    private final List<Tensor> m = new ArrayList<>();
    private final List<Tensor> v = new ArrayList<>();
    private final Scope state;
    private double lr;
    private final double beta1;
    private final double beta2;
    private final double eps;
    private final double weightDecay;
    private long step;

    /** PyTorch's defaults are {@code betas = (0.9, 0.999)}, {@code eps = 1e-8}, {@code weight_decay = 0.01}. */
    public AdamW(List<Tensor> params, double lr, double beta1, double beta2, double eps, double weightDecay) {
        this.params = List.copyOf(params);
        this.lr = lr;
        this.beta1 = beta1;
        this.beta2 = beta2;
        this.eps = eps;
        this.weightDecay = weightDecay;
        this.state = Scope.detached("adamw-state");
        for (Tensor p : this.params) {
            if (!p.requiresGrad() || !p.isLeaf()) {
                throw new IllegalArgumentException("AdamW parameters must be leaf tensors that require gradients: " + p);
            }
            m.add(Tensor.zeros(state, p.device(), p.dtype(), p.shape()));
            v.add(Tensor.zeros(state, p.device(), p.dtype(), p.shape()));
        }
    }

    public void setLearningRate(double lr) {
        this.lr = lr;
    }

    public double learningRate() {
        return lr;
    }

    /** Steps taken so far. */
    public long stepCount() {
        return step;
    }

    /** Restores the step count (checkpoint resume). */
    public void setStepCount(long s) {
        this.step = s;
    }

    /** The first and second moment tensors, parameter by parameter: {@code [m0, v0, m1, v1, ...]}. */
    public List<Tensor> moments() {
        List<Tensor> out = new ArrayList<>();
        for (int i = 0; i < params.size(); i++) {
            out.add(m.get(i));
            out.add(v.get(i));
        }
        return out;
    }

    /** Takes one optimizer step (parameters without a gradient are skipped, as PyTorch does). */
    public void update() {
        step++;
        for (int i = 0; i < params.size(); i++) {
            Tensor p = params.get(i);
            if (p.grad() == null) {
                continue;
            }
            ai.kestrel.kernels.optim.AdamW k = p.device() == ai.kestrel.engine.Device.CUDA ? OnGpu.ADAMW
                    : p.dtype() == DType.F64 ? ai.kestrel.kernels.optim.AdamW.REF : ai.kestrel.kernels.optim.AdamW.CPU;
            k.step(p.buf(), p.grad().buf(), m.get(i).buf(), v.get(i).buf(), p.numel(), lr, beta1, beta2, eps, weightDecay, step);
        }
    }

    /** The GPU's AdamW kernels, loaded on first use. */
    static final class OnGpu {
        static final ai.kestrel.kernels.optim.AdamW ADAMW = new ai.kestrel.kernels.cuda.AdamWCuda();
        static final ai.kestrel.kernels.elementwise.Elementwise ELEMENTWISE = new ai.kestrel.kernels.cuda.ElementwiseCuda();
    }

    @Override
    public void close() {
        state.close();
    }
}
