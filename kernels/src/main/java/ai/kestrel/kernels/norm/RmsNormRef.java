package ai.kestrel.kernels.norm;

import ai.kestrel.kernels.Buf;

/** Reference {@link RmsNorm}: plain loops, double accumulation, never optimised. */
final class RmsNormRef implements RmsNorm {
    @Override
    public void forward(Buf x, Buf w, Buf y, Buf rstd, int rows, int d, float eps) {
        for (int r = 0; r < rows; r++) {
            long o = (long) r * d;
            double ss = 0;
            for (int i = 0; i < d; i++) {
                double v = x.get(o + i);
                ss += v * v;
            }
            double rs = 1.0 / Math.sqrt(ss / d + eps);
            if (rstd != null) {
                rstd.set(r, rs);
            }
            for (int i = 0; i < d; i++) {
                y.set(o + i, w.get(i) * (x.get(o + i) * rs));
            }
        }
    }

    @Override
    public void backward(Buf dy, Buf x, Buf w, Buf rstd, Buf dx, Buf dw, int rows, int d) {
        for (int r = 0; r < rows; r++) {
            long o = (long) r * d;
            double rs = rstd.get(r);
            // dx_i = rs * w_i * dy_i - rs^3 / D * x_i * sum_j(w_j * dy_j * x_j)
            double dot = 0;
            for (int i = 0; i < d; i++) {
                dot += w.get(i) * dy.get(o + i) * x.get(o + i);
            }
            double c = rs * rs * rs * dot / d;
            for (int i = 0; i < d; i++) {
                double xi = x.get(o + i);
                double gi = dy.get(o + i);
                if (dx != null) {
                    dx.set(o + i, rs * w.get(i) * gi - c * xi);
                }
                if (dw != null) {
                    dw.add(i, gi * xi * rs);
                }
            }
        }
    }
}
