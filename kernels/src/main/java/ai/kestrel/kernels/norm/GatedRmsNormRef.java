package ai.kestrel.kernels.norm;

import ai.kestrel.kernels.Buf;

/** Reference {@link GatedRmsNorm}: plain loops, double accumulation, never optimised. */
final class GatedRmsNormRef implements GatedRmsNorm {
    static double sigmoid(double v) {
        return 1.0 / (1.0 + Math.exp(-v));
    }

    @Override
    public void forward(Buf x, Buf z, Buf w, Buf y, Buf rstd, int rows, int d, int groups, float eps) {
        int gs = GatedRmsNorm.groupSize(d, groups);
        double[] g = new double[gs];
        for (int r = 0; r < rows; r++) {
            for (int k = 0; k < groups; k++) {
                long o = (long) r * d + (long) k * gs;
                double ss = 0;
                for (int i = 0; i < gs; i++) {
                    double zi = z.get(o + i);
                    g[i] = x.get(o + i) * zi * sigmoid(zi);
                    ss += g[i] * g[i];
                }
                double rs = 1.0 / Math.sqrt(ss / gs + eps);
                if (rstd != null) {
                    rstd.set((long) r * groups + k, rs);
                }
                for (int i = 0; i < gs; i++) {
                    y.set(o + i, w.get((long) k * gs + i) * (g[i] * rs));
                }
            }
        }
    }

    @Override
    public void backward(Buf dy, Buf x, Buf z, Buf w, Buf rstd, Buf dx, Buf dz, Buf dw, int rows, int d, int groups) {
        int gs = GatedRmsNorm.groupSize(d, groups);
        double[] g = new double[gs];
        for (int r = 0; r < rows; r++) {
            for (int k = 0; k < groups; k++) {
                long o = (long) r * d + (long) k * gs;
                double rs = rstd.get((long) r * groups + k);
                double dot = 0;
                for (int i = 0; i < gs; i++) {
                    double zi = z.get(o + i);
                    g[i] = x.get(o + i) * zi * sigmoid(zi);
                    dot += w.get((long) k * gs + i) * dy.get(o + i) * g[i];
                }
                double c = rs * rs * rs * dot / gs;
                for (int i = 0; i < gs; i++) {
                    double wi = w.get((long) k * gs + i);
                    double gy = dy.get(o + i);
                    // through the RMSNorm of the group, then through g = x * silu(z)
                    double dg = rs * wi * gy - c * g[i];
                    double zi = z.get(o + i);
                    double s = sigmoid(zi);
                    if (dx != null) {
                        dx.set(o + i, dg * zi * s);
                    }
                    if (dz != null) {
                        dz.set(o + i, dg * x.get(o + i) * s * (1 + zi * (1 - s)));
                    }
                    if (dw != null) {
                        dw.add((long) k * gs + i, gy * g[i] * rs);
                    }
                }
            }
        }
    }
}
