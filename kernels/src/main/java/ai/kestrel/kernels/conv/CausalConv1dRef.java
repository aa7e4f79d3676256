package ai.kestrel.kernels.conv;

import ai.kestrel.kernels.Buf;

/** Reference {@link CausalConv1d}: the definition, loop by loop in double, never optimised. */
final class CausalConv1dRef implements CausalConv1d {
    /** Input at time {@code s} (negative: from state0, or zero). */
    private static double in(Buf x, Buf state0, int bb, int s, int ch, int t, int c, int width) {
        if (s >= 0) {
            return x.get(((long) bb * t + s) * c + ch);
        }
        return state0 == null ? 0 : state0.get(((long) bb * (width - 1) + (width - 1 + s)) * c + ch);
    }

    @Override
    public void forward(Buf x, Buf w, Buf bias, Buf state0, Buf y, Buf stateOut, int b, int t, int c, int width) {
        for (int bb = 0; bb < b; bb++) {
            for (int tt = 0; tt < t; tt++) {
                for (int ch = 0; ch < c; ch++) {
                    double s = bias == null ? 0 : bias.get(ch);
                    for (int j = 0; j < width; j++) {
                        s += w.get((long) ch * width + j) * in(x, state0, bb, tt - (width - 1) + j, ch, t, c, width);
                    }
                    y.set(((long) bb * t + tt) * c + ch, s);
                }
            }
            if (stateOut != null) {
                for (int i = 0; i < width - 1; i++) {
                    for (int ch = 0; ch < c; ch++) {
                        stateOut.set(((long) bb * (width - 1) + i) * c + ch, in(x, state0, bb, t - (width - 1) + i, ch, t, c, width));
                    }
                }
            }
        }
    }

    @Override
    public void backward(Buf dy, Buf x, Buf w, Buf state0, Buf dx, Buf dw, Buf dbias, Buf dstate0, int b, int t, int c, int width) {
        for (int bb = 0; bb < b; bb++) {
            // input time s (from -(W-1) to T-1) feeds outputs t = s + (W-1) - j
            for (int s = -(width - 1); s < t; s++) {
                for (int ch = 0; ch < c; ch++) {
                    double g = 0;
                    for (int j = 0; j < width; j++) {
                        int tt = s + (width - 1) - j;
                        if (tt >= 0 && tt < t) {
                            g += w.get((long) ch * width + j) * dy.get(((long) bb * t + tt) * c + ch);
                        }
                    }
                    if (s >= 0) {
                        if (dx != null) {
                            dx.set(((long) bb * t + s) * c + ch, g);
                        }
                    } else if (dstate0 != null) {
                        dstate0.set(((long) bb * (width - 1) + (width - 1 + s)) * c + ch, g);
                    }
                }
            }
            for (int tt = 0; tt < t; tt++) {
                for (int ch = 0; ch < c; ch++) {
                    double g = dy.get(((long) bb * t + tt) * c + ch);
                    if (dbias != null) {
                        dbias.add(ch, g);
                    }
                    if (dw != null) {
                        for (int j = 0; j < width; j++) {
                            dw.add((long) ch * width + j, g * in(x, state0, bb, tt - (width - 1) + j, ch, t, c, width));
                        }
                    }
                }
            }
        }
    }

    @Override
    public void step(Buf x, Buf w, Buf bias, Buf state, Buf y, int b, int c, int width) {
        for (int bb = 0; bb < b; bb++) {
            for (int ch = 0; ch < c; ch++) {
                long so = (long) bb * (width - 1) * c + ch;
                double xv = x.get((long) bb * c + ch);
                double s = bias == null ? 0 : bias.get(ch);
                for (int j = 0; j < width - 1; j++) {
                    s += w.get((long) ch * width + j) * state.get(so + (long) j * c);
                }
                s += w.get((long) ch * width + width - 1) * xv;
                y.set((long) bb * c + ch, s);
                for (int j = 0; j < width - 2; j++) {
                    state.set(so + (long) j * c, state.get(so + (long) (j + 1) * c));
                }
                if (width > 1) {
                    state.set(so + (long) (width - 2) * c, xv);
                }
            }
        }
    }
}
