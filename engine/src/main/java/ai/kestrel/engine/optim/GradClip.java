package ai.kestrel.engine.optim;

import ai.kestrel.engine.DType;
import ai.kestrel.engine.Tensor;
import ai.kestrel.kernels.elementwise.Elementwise;
import ai.kestrel.kernels.optim.AdamW;
import java.util.List;

/** Gradient clipping by global norm, as {@code torch.nn.utils.clip_grad_norm_}. */
public final class GradClip {
    private GradClip() {
    }

    /**
     * The L2 norm of all gradients together; when it exceeds {@code maxNorm}, every gradient is scaled by
     * {@code maxNorm / (norm + 1e-6)}. Parameters without a gradient are skipped. Returns the norm before
     * clipping (NaN or infinite when a gradient is: the caller decides what to do).
     */
    public static double clipGlobalNorm(List<Tensor> params, double maxNorm) {
        double sq = 0;
        ai.kestrel.kernels.cuda.DevBuf acc = null; // GPU gradients: every square summed on the device, one download
        for (Tensor p : params) {
            Tensor g = p.grad();
            if (g != null && g.device() == ai.kestrel.engine.Device.CUDA) {
                ai.kestrel.kernels.cuda.Cuda c = ai.kestrel.kernels.cuda.Cuda.get();
                if (acc == null) {
                    acc = c.allocZeroed(8);
                }
                ai.kestrel.kernels.cuda.AdamWCuda.sumSquares(c, g.buf().devBuf(), g.numel(), acc);
            } else if (g != null) {
                sq += (g.dtype() == DType.F64 ? AdamW.REF : AdamW.CPU).sumSquares(g.buf(), g.numel());
            }
        }
        if (acc != null) {
            try (ai.kestrel.kernels.cuda.DevBuf total = acc; java.lang.foreign.Arena a = java.lang.foreign.Arena.ofConfined()) {
                java.lang.foreign.MemorySegment h = a.allocate(8, 8);
                ai.kestrel.kernels.cuda.Cuda.get().download(total, h);
                sq += h.get(ai.kestrel.kernels.Buf.F64, 0);
            }
        }
        double norm = Math.sqrt(sq);
        double coef = maxNorm / (norm + 1e-6);
        if (coef < 1) {
            for (Tensor p : params) {
                Tensor g = p.grad();
                if (g != null) {
                    Elementwise k = g.device() == ai.kestrel.engine.Device.CUDA ? ai.kestrel.engine.optim.AdamW.OnGpu.ELEMENTWISE
                            : g.dtype() == DType.F64 ? Elementwise.REF : Elementwise.CPU;
                    k.scale(g.buf(), coef, g.buf(), g.numel());
                }
            }
        }
        return norm;
    }
}
