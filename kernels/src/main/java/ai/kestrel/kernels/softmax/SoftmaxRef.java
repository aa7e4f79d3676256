package ai.kestrel.kernels.softmax;

import ai.kestrel.kernels.Buf;

/** Reference {@link Softmax}: plain loops in double, never optimised. */
final class SoftmaxRef implements Softmax {
    @Override
    public void forward(Buf x, Buf y, int rows, int d) {
        for (int r = 0; r < rows; r++) {
            long o = (long) r * d;
            double max = Double.NEGATIVE_INFINITY;
            for (int i = 0; i < d; i++) {
                max = Math.max(max, x.get(o + i));
            }
            double sum = 0;
            for (int i = 0; i < d; i++) {
                sum += Math.exp(x.get(o + i) - max);
            }
            for (int i = 0; i < d; i++) {
                y.set(o + i, Math.exp(x.get(o + i) - max) / sum);
            }
        }
    }

    @Override
    public void backward(Buf dy, Buf y, Buf dx, int rows, int d) {
        for (int r = 0; r < rows; r++) {
            long o = (long) r * d;
            double dot = 0;
            for (int i = 0; i < d; i++) {
                dot += dy.get(o + i) * y.get(o + i);
            }
            for (int i = 0; i < d; i++) {
                dx.set(o + i, y.get(o + i) * (dy.get(o + i) - dot));
            }
        }
    }
}
