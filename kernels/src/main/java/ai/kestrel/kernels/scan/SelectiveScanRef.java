package ai.kestrel.kernels.scan;

import ai.kestrel.kernels.Buf;

/**
 * Reference {@link SelectiveScan}: the recurrence in double; backward keeps every state of the forward pass
 * and walks time backwards. Never optimised.
 */
final class SelectiveScanRef implements SelectiveScan {
    private static double opt(Buf v, long i) {
        return v == null ? 0 : v.get(i);
    }

    @Override
    public void forward(Buf x, Buf dt, Buf dtBias, Buf a, Buf bm, Buf cm, Buf dskip, Buf h0, Buf y, Buf hT,
                        int b, int t, int din, int n) {
        double[] h = new double[n];
        for (int bb = 0; bb < b; bb++) {
            for (int d = 0; d < din; d++) {
                for (int k = 0; k < n; k++) {
                    h[k] = opt(h0, ((long) bb * din + d) * n + k);
                }
                for (int tt = 0; tt < t; tt++) {
                    long xi = ((long) bb * t + tt) * din + d;
                    long bi = ((long) bb * t + tt) * n;
                    double delta = SelectiveScan.softplus(dt.get(xi) + opt(dtBias, d));
                    double xv = x.get(xi);
                    double out = opt(dskip, d) * xv;
                    for (int k = 0; k < n; k++) {
                        h[k] = Math.exp(delta * a.get((long) d * n + k)) * h[k] + delta * bm.get(bi + k) * xv;
                        out += h[k] * cm.get(bi + k);
                    }
                    y.set(xi, out);
                }
                if (hT != null) {
                    for (int k = 0; k < n; k++) {
                        hT.set(((long) bb * din + d) * n + k, h[k]);
                    }
                }
            }
        }
    }

    @Override
    public void backward(Buf dy, Buf x, Buf dt, Buf dtBias, Buf a, Buf bm, Buf cm, Buf dskip, Buf h0,
                         Buf dx, Buf ddt, Buf ddtBias, Buf dA, Buf dB, Buf dC, Buf dD, Buf dh0,
                         int b, int t, int din, int n) {
        if (dB != null) {
            dB.fill(0);
        }
        if (dC != null) {
            dC.fill(0);
        }
        double[][] hs = new double[t + 1][n]; // hs[s] = state after s steps (hs[0] = h0)
        double[] gh = new double[n];
        for (int bb = 0; bb < b; bb++) {
            for (int d = 0; d < din; d++) {
                for (int k = 0; k < n; k++) {
                    hs[0][k] = opt(h0, ((long) bb * din + d) * n + k);
                }
                for (int tt = 0; tt < t; tt++) {
                    long xi = ((long) bb * t + tt) * din + d;
                    long bi = ((long) bb * t + tt) * n;
                    double delta = SelectiveScan.softplus(dt.get(xi) + opt(dtBias, d));
                    for (int k = 0; k < n; k++) {
                        hs[tt + 1][k] = Math.exp(delta * a.get((long) d * n + k)) * hs[tt][k] + delta * bm.get(bi + k) * x.get(xi);
                    }
                }
                java.util.Arrays.fill(gh, 0);
                for (int tt = t - 1; tt >= 0; tt--) {
                    long xi = ((long) bb * t + tt) * din + d;
                    long bi = ((long) bb * t + tt) * n;
                    double pre = dt.get(xi) + opt(dtBias, d);
                    double delta = SelectiveScan.softplus(pre);
                    double xv = x.get(xi);
                    double g = dy.get(xi);
                    double gx = opt(dskip, d) * g;
                    double gdelta = 0;
                    if (dD != null) {
                        dD.add(d, g * xv);
                    }
                    for (int k = 0; k < n; k++) {
                        double ak = a.get((long) d * n + k);
                        double decay = Math.exp(delta * ak);
                        // dL/dh_t: from y_t, plus what flows back from h_{t+1} (already in gh)
                        gh[k] += g * cm.get(bi + k);
                        if (dC != null) {
                            dC.add(bi + k, g * hs[tt + 1][k]);
                        }
                        double bk = bm.get(bi + k);
                        gx += gh[k] * delta * bk;
                        gdelta += gh[k] * (ak * decay * hs[tt][k] + bk * xv);
                        if (dA != null) {
                            dA.add((long) d * n + k, gh[k] * decay * delta * hs[tt][k]);
                        }
                        if (dB != null) {
                            dB.add(bi + k, gh[k] * delta * xv);
                        }
                        gh[k] *= decay; // becomes dL/dh_{t-1}
                    }
                    if (dx != null) {
                        dx.set(xi, gx);
                    }
                    double graw = gdelta * SelectiveScan.softplusGrad(pre);
                    if (ddt != null) {
                        ddt.set(xi, graw);
                    }
                    if (ddtBias != null) {
                        ddtBias.add(d, graw);
                    }
                }
                if (dh0 != null) {
                    for (int k = 0; k < n; k++) {
                        dh0.set(((long) bb * din + d) * n + k, gh[k]);
                    }
                }
            }
        }
    }

    @Override
    public void step(Buf x, Buf dt, Buf dtBias, Buf a, Buf bm, Buf cm, Buf dskip, Buf h, Buf y, int b, int din, int n) {
        for (int bb = 0; bb < b; bb++) {
            for (int d = 0; d < din; d++) {
                long xi = (long) bb * din + d;
                double delta = SelectiveScan.softplus(dt.get(xi) + opt(dtBias, d));
                double xv = x.get(xi);
                double out = opt(dskip, d) * xv;
                for (int k = 0; k < n; k++) {
                    long hi = xi * n + k;
                    double hv = Math.exp(delta * a.get((long) d * n + k)) * h.get(hi) + delta * bm.get((long) bb * n + k) * xv;
                    h.set(hi, hv);
                    out += hv * cm.get((long) bb * n + k);
                }
                y.set(xi, out);
            }
        }
    }
}
