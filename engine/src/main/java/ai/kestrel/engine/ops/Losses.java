package ai.kestrel.engine.ops;

import ai.kestrel.engine.Autograd;
import ai.kestrel.engine.DType;
import ai.kestrel.engine.Tensor;
import ai.kestrel.kernels.loss.CrossEntropy;
import java.util.Arrays;

/** Losses and their gradients. */
public final class Losses {
    private Losses() {
    }

    /**
     * Mean cross-entropy of {@code logits (..., V)} against {@code labels (...)} (I32; {@value CrossEntropy#IGNORE}
     * marks positions left out), as PyTorch's {@code F.cross_entropy(reduction="mean", ignore_index=-100)}.
     * When every label is ignored the loss is 0 with a zero gradient (PyTorch returns NaN; 0 keeps an
     * all-prompt batch from poisoning training). Shifting labels for next-token prediction is the caller's job.
     */
    public static Tensor crossEntropy(Tensor logits, Tensor labels) {
        CrossEntropy k = Dispatch.pick(CrossEntropy.REF, CrossEntropy.CPU, () -> CudaKernels.CROSS_ENTROPY, "crossEntropy", logits);
        if (labels.dtype() != DType.I32) {
            throw new IllegalArgumentException("crossEntropy: labels must be I32, got " + labels.dtype());
        }
        int v = logits.dim(-1);
        int rows = Dispatch.rows(logits);
        if (labels.numel() != rows) {
            throw new IllegalArgumentException("crossEntropy: " + rows + " rows of logits " + Arrays.toString(logits.shape())
                    + " but labels have shape " + Arrays.toString(labels.shape()));
        }
        Tensor perRow = Tensor.zeros(logits.dtype(), rows);
        Tensor lse = Tensor.zeros(logits.dtype(), rows);
        int count = k.forward(logits.buf(), labels.segment(), rows, v, perRow.buf(), lse.buf());
        double sum = 0;
        for (int r = 0; r < rows; r++) {
            sum += perRow.getDouble(r);
        }
        Tensor y = Tensor.zeros(logits.dtype());
        y.setDouble(0, count == 0 ? 0 : sum / count);
        return Autograd.record(y, "crossEntropy", (g, needs) -> {
            Tensor d = Tensor.zerosLike(logits);
            double scale = count == 0 ? 0 : g.getDouble(0) / count;
            k.backward(logits.buf(), labels.segment(), lse.buf(), scale, d.buf(), rows, v);
            return new Tensor[] {d, null};
        }, logits, labels);
    }
}
