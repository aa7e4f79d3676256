package ai.kestrel.kernels.rope;

import ai.kestrel.kernels.Buf;

/** Reference {@link Rope}: plain loops in double, never optimised. */
final class RopeRef implements Rope {
    @Override
    public void forward(Buf x, Buf y, int b, int t, int h, int p, int start, double theta) {
        rotate(x, y, b, t, h, p, start, theta, 1);
    }

    @Override
    public void backward(Buf dy, Buf dx, int b, int t, int h, int p, int start, double theta) {
        rotate(dy, dx, b, t, h, p, start, theta, -1);
    }

    private static void rotate(Buf x, Buf y, int b, int t, int h, int p, int start, double theta, int sign) {
        Rope.checkHeadDim(p);
        int half = p / 2;
        for (int bb = 0; bb < b; bb++) {
            for (int tt = 0; tt < t; tt++) {
                for (int hh = 0; hh < h; hh++) {
                    long o = (((long) bb * t + tt) * h + hh) * p;
                    for (int i = 0; i < half; i++) {
                        double angle = (double) (start + tt) * Rope.invFreq(i, p, theta);
                        double c = Math.cos(angle);
                        double s = sign * Math.sin(angle);
                        double x1 = x.get(o + i);
                        double x2 = x.get(o + i + half);
                        y.set(o + i, x1 * c - x2 * s);
                        y.set(o + i + half, x2 * c + x1 * s);
                    }
                }
            }
        }
    }
}
