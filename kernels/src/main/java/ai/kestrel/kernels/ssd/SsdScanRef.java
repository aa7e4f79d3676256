package ai.kestrel.kernels.ssd;

import ai.kestrel.kernels.Buf;

/**
 * Reference {@link SsdScan}: the sequential recurrence in double, one (batch, head) at a time; backward keeps
 * every state and walks time backwards. The chunk length is ignored. Never optimised.
 */
final class SsdScanRef implements SsdScan {
    private static double opt(Buf v, long i) {
        return v == null ? 0 : v.get(i);
    }

    private static long xi(Dims m, int bb, int tt, int hh) {
        return (((long) bb * m.t() + tt) * m.h() + hh) * m.p();
    }

    private static long bi(Dims m, int bb, int tt, int gg) {
        return (((long) bb * m.t() + tt) * m.g() + gg) * m.n();
    }

    private static long si(Dims m, int bb, int hh) {
        return ((long) bb * m.h() + hh) * m.p() * m.n();
    }

    @Override
    public void forward(Buf x, Buf dt, Buf dtBias, Buf a, Buf bm, Buf cm, Buf d, Buf s0, Buf y, Buf sT, Dims m) {
        int p = m.p();
        int n = m.n();
        double[] s = new double[p * n];
        for (int bb = 0; bb < m.b(); bb++) {
            for (int hh = 0; hh < m.h(); hh++) {
                int gg = m.group(hh);
                for (int i = 0; i < p * n; i++) {
                    s[i] = opt(s0, si(m, bb, hh) + i);
                }
                for (int tt = 0; tt < m.t(); tt++) {
                    double delta = SsdScan.softplus(dt.get(((long) bb * m.t() + tt) * m.h() + hh) + opt(dtBias, hh));
                    double decay = Math.exp(delta * a.get(hh));
                    long xo = xi(m, bb, tt, hh);
                    long bo = bi(m, bb, tt, gg);
                    for (int pp = 0; pp < p; pp++) {
                        double xv = x.get(xo + pp);
                        double out = opt(d, hh) * xv;
                        for (int k = 0; k < n; k++) {
                            s[pp * n + k] = decay * s[pp * n + k] + delta * xv * bm.get(bo + k);
                            out += s[pp * n + k] * cm.get(bo + k);
                        }
                        y.set(xo + pp, out);
                    }
                }
                if (sT != null) {
                    for (int i = 0; i < p * n; i++) {
                        sT.set(si(m, bb, hh) + i, s[i]);
                    }
                }
            }
        }
    }

    @Override
    public void backward(Buf dy, Buf x, Buf dt, Buf dtBias, Buf a, Buf bm, Buf cm, Buf d, Buf s0,
                         Buf dx, Buf ddt, Buf ddtBias, Buf dA, Buf dB, Buf dC, Buf dD, Buf ds0, Dims m) {
        int p = m.p();
        int n = m.n();
        int t = m.t();
        if (dB != null) {
            dB.fill(0);
        }
        if (dC != null) {
            dC.fill(0);
        }
        double[][] states = new double[t + 1][p * n];
        double[] g = new double[p * n];
        for (int bb = 0; bb < m.b(); bb++) {
            for (int hh = 0; hh < m.h(); hh++) {
                int gg = m.group(hh);
                double ah = a.get(hh);
                double dh = opt(d, hh);
                for (int i = 0; i < p * n; i++) {
                    states[0][i] = opt(s0, si(m, bb, hh) + i);
                }
                for (int tt = 0; tt < t; tt++) {
                    double delta = SsdScan.softplus(dt.get(((long) bb * t + tt) * m.h() + hh) + opt(dtBias, hh));
                    double decay = Math.exp(delta * ah);
                    long xo = xi(m, bb, tt, hh);
                    long bo = bi(m, bb, tt, gg);
                    for (int pp = 0; pp < p; pp++) {
                        for (int k = 0; k < n; k++) {
                            states[tt + 1][pp * n + k] = decay * states[tt][pp * n + k] + delta * x.get(xo + pp) * bm.get(bo + k);
                        }
                    }
                }
                java.util.Arrays.fill(g, 0);
                for (int tt = t - 1; tt >= 0; tt--) {
                    long di = ((long) bb * t + tt) * m.h() + hh;
                    double pre = dt.get(di) + opt(dtBias, hh);
                    double delta = SsdScan.softplus(pre);
                    double decay = Math.exp(delta * ah);
                    long xo = xi(m, bb, tt, hh);
                    long bo = bi(m, bb, tt, gg);
                    double gDelta = 0;
                    double gDecay = 0;
                    // g := dL/dS_t: add the output's part, dy_t ⊗ C_t
                    for (int pp = 0; pp < p; pp++) {
                        double gy = dy.get(xo + pp);
                        for (int k = 0; k < n; k++) {
                            g[pp * n + k] += gy * cm.get(bo + k);
                        }
                    }
                    for (int pp = 0; pp < p; pp++) {
                        double xv = x.get(xo + pp);
                        double gy = dy.get(xo + pp);
                        double gx = dh * gy;
                        for (int k = 0; k < n; k++) {
                            double gs = g[pp * n + k];
                            double bk = bm.get(bo + k);
                            if (dC != null) {
                                dC.add(bo + k, gy * states[tt + 1][pp * n + k]);
                            }
                            if (dB != null) {
                                dB.add(bo + k, gs * delta * xv);
                            }
                            gx += gs * delta * bk;
                            gDelta += gs * xv * bk;
                            gDecay += gs * states[tt][pp * n + k];
                        }
                        if (dx != null) {
                            dx.set(xo + pp, gx);
                        }
                        if (dD != null) {
                            dD.add(hh, gy * xv);
                        }
                    }
                    // decay = exp(delta * A): both delta and A receive its gradient
                    gDelta += gDecay * decay * ah;
                    if (dA != null) {
                        dA.add(hh, gDecay * decay * delta);
                    }
                    double graw = gDelta * SsdScan.softplusGrad(pre);
                    if (ddt != null) {
                        ddt.set(di, graw);
                    }
                    if (ddtBias != null) {
                        ddtBias.add(hh, graw);
                    }
                    for (int i = 0; i < p * n; i++) {
                        g[i] *= decay; // dL/dS_{t-1}
                    }
                }
                if (ds0 != null) {
                    for (int i = 0; i < p * n; i++) {
                        ds0.set(si(m, bb, hh) + i, g[i]);
                    }
                }
            }
        }
    }

    @Override
    public void step(Buf x, Buf dt, Buf dtBias, Buf a, Buf bm, Buf cm, Buf d, Buf state, Buf y, Dims m) {
        int p = m.p();
        int n = m.n();
        for (int bb = 0; bb < m.b(); bb++) {
            for (int hh = 0; hh < m.h(); hh++) {
                int gg = m.group(hh);
                double delta = SsdScan.softplus(dt.get((long) bb * m.h() + hh) + opt(dtBias, hh));
                double decay = Math.exp(delta * a.get(hh));
                long xo = ((long) bb * m.h() + hh) * p;
                long bo = ((long) bb * m.g() + gg) * n;
                long so = ((long) bb * m.h() + hh) * p * n;
                for (int pp = 0; pp < p; pp++) {
                    double xv = x.get(xo + pp);
                    double out = opt(d, hh) * xv;
                    for (int k = 0; k < n; k++) {
                        double sv = decay * state.get(so + (long) pp * n + k) + delta * xv * bm.get(bo + k);
                        state.set(so + (long) pp * n + k, sv);
                        out += sv * cm.get(bo + k);
                    }
                    y.set(xo + pp, out);
                }
            }
        }
    }
}
