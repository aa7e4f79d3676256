package ai.kestrel.kernels.attention;

import ai.kestrel.kernels.Buf;

/** Reference {@link Attention}: per query row, explicit scores, softmax and weighted sum in double. */
final class AttentionRef implements Attention {
    private static double dot(Buf a, long ao, Buf b, long bo, int p) {
        double s = 0;
        for (int i = 0; i < p; i++) {
            s += a.get(ao + i) * b.get(bo + i);
        }
        return s;
    }

    @Override
    public void forward(Buf q, Buf k, Buf v, Buf o, Buf lse, Dims m, double scale) {
        int p = m.p();
        for (int bb = 0; bb < m.b(); bb++) {
            for (int hh = 0; hh < m.h(); hh++) {
                int g = m.kvHead(hh);
                for (int i = 0; i < m.tq(); i++) {
                    int last = m.lastKey(i);
                    long qo = m.qOff(bb, i, hh);
                    double[] s = new double[last + 1];
                    double max = Double.NEGATIVE_INFINITY;
                    for (int j = 0; j <= last; j++) {
                        s[j] = scale * dot(q, qo, k, m.kOff(bb, j, g), p);
                        max = Math.max(max, s[j]);
                    }
                    double sum = 0;
                    for (int j = 0; j <= last; j++) {
                        s[j] = Math.exp(s[j] - max);
                        sum += s[j];
                    }
                    for (int c = 0; c < p; c++) {
                        double acc = 0;
                        for (int j = 0; j <= last; j++) {
                            acc += s[j] * v.get(m.kOff(bb, j, g) + c);
                        }
                        o.set(qo + c, acc / sum);
                    }
                    if (lse != null) {
                        lse.set(((long) bb * m.h() + hh) * m.tq() + i, max + Math.log(sum));
                    }
                }
            }
        }
    }

    @Override
    public void backward(Buf dO, Buf q, Buf k, Buf v, Buf o, Buf lse, Buf dq, Buf dk, Buf dv, Dims m, double scale) {
        int p = m.p();
        for (int bb = 0; bb < m.b(); bb++) {
            for (int j = 0; j < m.tk(); j++) {
                for (int g = 0; g < m.kv(); g++) {
                    for (int c = 0; c < p; c++) {
                        if (dk != null) {
                            dk.set(m.kOff(bb, j, g) + c, 0);
                        }
                        if (dv != null) {
                            dv.set(m.kOff(bb, j, g) + c, 0);
                        }
                    }
                }
            }
            for (int hh = 0; hh < m.h(); hh++) {
                int g = m.kvHead(hh);
                for (int i = 0; i < m.tq(); i++) {
                    long qo = m.qOff(bb, i, hh);
                    double l = lse.get(((long) bb * m.h() + hh) * m.tq() + i);
                    double di = dot(dO, qo, o, qo, p); // rowsum(dO * O) = sum_j p_j dp_j
                    double[] gq = new double[p];
                    for (int j = 0; j <= m.lastKey(i); j++) {
                        long ko = m.kOff(bb, j, g);
                        double pj = Math.exp(scale * dot(q, qo, k, ko, p) - l);
                        double dpj = dot(dO, qo, v, ko, p);
                        double ds = pj * (dpj - di);
                        for (int c = 0; c < p; c++) {
                            gq[c] += scale * ds * k.get(ko + c);
                            if (dk != null) {
                                dk.add(ko + c, scale * ds * q.get(qo + c));
                            }
                            if (dv != null) {
                                dv.add(ko + c, pj * dO.get(qo + c));
                            }
                        }
                    }
                    if (dq != null) {
                        for (int c = 0; c < p; c++) {
                            dq.set(qo + c, gq[c]);
                        }
                    }
                }
            }
        }
    }
}
