package ai.kestrel.kernels.optim;

import ai.kestrel.kernels.Buf;

/** Reference {@link AdamW}: the PyTorch update, element by element in double, never optimised. */
final class AdamWRef implements AdamW {
    @Override
    public void step(Buf param, Buf grad, Buf m, Buf v, long n, double lr, double beta1, double beta2, double eps,
                     double weightDecay, long t) {
        double bc1 = 1 - Math.pow(beta1, t);
        double bc2 = 1 - Math.pow(beta2, t);
        double stepSize = lr / bc1;
        double bc2Sqrt = Math.sqrt(bc2);
        for (long i = 0; i < n; i++) {
            double g = grad.get(i);
            double p = param.get(i) * (1 - lr * weightDecay);
            double mi = beta1 * m.get(i) + (1 - beta1) * g;
            double vi = beta2 * v.get(i) + (1 - beta2) * g * g;
            m.set(i, mi);
            v.set(i, vi);
            param.set(i, p - stepSize * mi / (Math.sqrt(vi) / bc2Sqrt + eps));
        }
    }

    @Override
    public double sumSquares(Buf g, long n) {
        double s = 0;
        for (long i = 0; i < n; i++) {
            double x = g.get(i);
            s += x * x;
        }
        return s;
    }
}
