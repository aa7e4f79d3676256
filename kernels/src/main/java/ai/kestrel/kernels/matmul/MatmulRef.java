package ai.kestrel.kernels.matmul;

import ai.kestrel.kernels.Buf;
import ai.kestrel.kernels.quant.HalfRounding;
import ai.kestrel.kernels.quant.Q8Activations;
import ai.kestrel.kernels.quant.WeightFormat;
import ai.kestrel.kernels.quant.Weights;

/** Reference {@link Matmul}: triple loops in double over {@link Weights#get}, never optimised. */
final class MatmulRef implements Matmul {
    @Override
    public void forward(Buf x, Weights w, Buf bias, Buf y, int m) {
        int n = w.n();
        int k = w.k();
        boolean q8 = w.format() == WeightFormat.Q8_0;
        boolean half = w.roundsInput() && HalfRounding.rounds(w.format());
        double[] xi = new double[k];
        float[] row = new float[k];
        short[] q = new short[k];
        float[] d = new float[Math.max(1, k / Q8Activations.BLOCK)];
        for (int i = 0; i < m; i++) {
            for (int c = 0; c < k; c++) {
                xi[c] = x.get((long) i * k + c);
            }
            if (q8) { // the activations rounded as ggml rounds them: q * d per block
                for (int c = 0; c < k; c++) {
                    row[c] = (float) xi[c];
                }
                Q8Activations.quantizeRef(row, 0, k, q, 0, d, 0);
                for (int c = 0; c < k; c++) {
                    xi[c] = (double) q[c] * d[c / Q8Activations.BLOCK];
                }
            } else if (half) { // to the weight's 16-bit type, as ggml converts them
                for (int c = 0; c < k; c++) {
                    xi[c] = w.format() == WeightFormat.F16 ? HalfRounding.f16((float) xi[c]) : HalfRounding.bf16((float) xi[c]);
                }
            }
            for (int j = 0; j < n; j++) {
                double s = bias == null ? 0 : bias.get(j);
                for (int c = 0; c < k; c++) {
                    s += xi[c] * w.get(j, c);
                }
                y.set((long) i * n + j, s);
            }
        }
    }

    @Override
    public void forwardAdd(Buf x, Weights w, Buf r, Buf y, int m) {
        x.require("x", (long) m * w.k());
        y.require("y", (long) m * w.n());
        r.require("r", (long) m * w.n());
        double[] base = new double[m * w.n()];
        for (int i = 0; i < base.length; i++) {
            base[i] = r.get(i); // (read first: r may be y)
        }
        forward(x, w, null, y, m);
        for (int i = 0; i < base.length; i++) {
            y.set(i, base[i] + y.get(i));
        }
    }

    @Override
    public void backwardInput(Buf dy, Weights w, Buf dx, int m, boolean accumulate) {
        int n = w.n();
        int k = w.k();
        for (int i = 0; i < m; i++) {
            for (int c = 0; c < k; c++) {
                double s = accumulate ? dx.get((long) i * k + c) : 0;
                for (int j = 0; j < n; j++) {
                    s += dy.get((long) i * n + j) * w.get(j, c);
                }
                dx.set((long) i * k + c, s);
            }
        }
    }

    @Override
    public void backwardWeight(Buf dy, Buf x, Buf dw, int m, int n, int k) {
        for (int j = 0; j < n; j++) {
            for (int c = 0; c < k; c++) {
                double s = dw.get((long) j * k + c);
                for (int i = 0; i < m; i++) {
                    s += dy.get((long) i * n + j) * x.get((long) i * k + c);
                }
                dw.set((long) j * k + c, s);
            }
        }
    }
}
