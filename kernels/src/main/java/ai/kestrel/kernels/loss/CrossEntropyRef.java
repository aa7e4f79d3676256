package ai.kestrel.kernels.loss;

import ai.kestrel.kernels.Buf;
import java.lang.foreign.MemorySegment;

/** Reference {@link CrossEntropy}: two passes per row in double, never optimised. */
final class CrossEntropyRef implements CrossEntropy {
    @Override
    public int forward(Buf logits, MemorySegment labels, int rows, int v, Buf loss, Buf lse) {
        int count = 0;
        for (int r = 0; r < rows; r++) {
            int label = CrossEntropy.label(labels, r, v);
            long o = (long) r * v;
            double max = Double.NEGATIVE_INFINITY;
            for (int i = 0; i < v; i++) {
                max = Math.max(max, logits.get(o + i));
            }
            double sum = 0;
            for (int i = 0; i < v; i++) {
                sum += Math.exp(logits.get(o + i) - max);
            }
            double l = max + Math.log(sum);
            lse.set(r, l);
            if (label == IGNORE) {
                loss.set(r, 0);
            } else {
                loss.set(r, l - logits.get(o + label));
                count++;
            }
        }
        return count;
    }

    @Override
    public void backward(Buf logits, MemorySegment labels, Buf lse, double scale, Buf dlogits, int rows, int v) {
        for (int r = 0; r < rows; r++) {
            int label = CrossEntropy.label(labels, r, v);
            long o = (long) r * v;
            double l = lse.get(r);
            for (int i = 0; i < v; i++) {
                double g = label == IGNORE ? 0 : scale * (Math.exp(logits.get(o + i) - l) - (i == label ? 1 : 0));
                dlogits.set(o + i, g);
            }
        }
    }
}
