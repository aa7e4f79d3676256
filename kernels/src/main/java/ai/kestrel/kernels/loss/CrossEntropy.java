package ai.kestrel.kernels.loss;

import ai.kestrel.kernels.Buf;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Cross-entropy of logits against integer labels, as PyTorch's {@code F.cross_entropy(ignore_index=-100)}:
 * per row {@code loss = logsumexp(logits) - logits[label]}; rows labelled {@link #IGNORE} contribute nothing.
 * Shapes: {@code logits, dlogits (rows, V)}, {@code labels (rows)} int32, {@code loss, lse (rows)}.
 */
public interface CrossEntropy {
    /** The label of positions that take no part in the loss (Hugging Face's and PyTorch's convention). */
    int IGNORE = -100;

    /** The reference: scalar loops in double; float32 and float64 buffers. */
    CrossEntropy REF = new CrossEntropyRef();
    /** Vector API, one pass per row with an online max and rescaled sum; rows in parallel. */
    CrossEntropy CPU = new CrossEntropyCpu();

    /**
     * Writes each row's loss (0 for ignored rows) and log-sum-exp; returns the number of rows not ignored.
     * A label outside {@code [0, V)} other than {@link #IGNORE} throws, naming the row and label.
     */
    int forward(Buf logits, MemorySegment labels, int rows, int v, Buf loss, Buf lse);

    /**
     * {@code dlogits = scale * (softmax(logits) - onehot(label))} for rows not ignored, 0 for ignored rows;
     * {@code lse} is what forward wrote.
     */
    void backward(Buf logits, MemorySegment labels, Buf lse, double scale, Buf dlogits, int rows, int v);

    /** Label of row {@code r}, checked. */
    static int label(MemorySegment labels, int r, int v) {
        int l = labels.getAtIndex(ValueLayout.JAVA_INT_UNALIGNED, r);
        if (l != IGNORE && (l < 0 || l >= v)) {
            throw new IllegalArgumentException("label " + l + " at row " + r + " is outside [0, " + v + ") and is not " + IGNORE);
        }
        return l;
    }
}
