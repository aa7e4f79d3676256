package ai.kestrel.kernels.elementwise;

import ai.kestrel.kernels.Buf;

/** Reference {@link Elementwise}: plain loops in double, never optimised. */
final class ElementwiseRef implements Elementwise {
    static long bIndex(Broadcast bc, long r, long c, long cols) {
        return switch (bc) {
            case NONE -> r * cols + c;
            case ROW -> c;
            case COLUMN -> r;
            case SCALAR -> 0;
        };
    }

    static double sigmoid(double v) {
        return 1.0 / (1.0 + Math.exp(-v));
    }

    @Override
    public void add(Buf a, Buf b, Buf out, int rows, int cols, Broadcast bc) {
        for (long r = 0; r < rows; r++) {
            for (long c = 0; c < cols; c++) {
                out.set(r * cols + c, a.get(r * cols + c) + b.get(bIndex(bc, r, c, cols)));
            }
        }
    }

    @Override
    public void mul(Buf a, Buf b, Buf out, int rows, int cols, Broadcast bc) {
        for (long r = 0; r < rows; r++) {
            for (long c = 0; c < cols; c++) {
                out.set(r * cols + c, a.get(r * cols + c) * b.get(bIndex(bc, r, c, cols)));
            }
        }
    }

    @Override
    public void dropout(Buf x, Buf y, long n, double p, double scale, long seed) {
        for (long i = 0; i < n; i++) {
            y.set(i, Elementwise.draw(seed, i) < p ? 0 : x.get(i) * scale);
        }
    }

    @Override
    public void scale(Buf a, double s, Buf out, long n) {
        for (long i = 0; i < n; i++) {
            out.set(i, s * a.get(i));
        }
    }

    @Override
    public void axpy(double alpha, Buf x, Buf y, long n) {
        for (long i = 0; i < n; i++) {
            y.set(i, y.get(i) + alpha * x.get(i));
        }
    }

    @Override
    public void silu(Buf x, Buf y, long n) {
        for (long i = 0; i < n; i++) {
            double v = x.get(i);
            y.set(i, v * sigmoid(v));
        }
    }

    @Override
    public void siluBackward(Buf dy, Buf x, Buf dx, long n) {
        for (long i = 0; i < n; i++) {
            double v = x.get(i);
            double s = sigmoid(v);
            dx.set(i, dy.get(i) * s * (1 + v * (1 - s)));
        }
    }

    @Override
    public void softplus(Buf x, Buf y, long n) {
        for (long i = 0; i < n; i++) {
            double v = x.get(i);
            y.set(i, v > 20 ? v : Math.log1p(Math.exp(v)));
        }
    }

    @Override
    public void softplusBackward(Buf dy, Buf x, Buf dx, long n) {
        for (long i = 0; i < n; i++) {
            double v = x.get(i);
            dx.set(i, v > 20 ? dy.get(i) : dy.get(i) * sigmoid(v));
        }
    }

    @Override
    public void exp(Buf x, Buf y, long n) {
        for (long i = 0; i < n; i++) {
            y.set(i, Math.exp(x.get(i)));
        }
    }

    @Override
    public void sumRows(Buf x, Buf out, int rows, int cols, boolean accumulate) {
        for (long c = 0; c < cols; c++) {
            double s = accumulate ? out.get(c) : 0;
            for (long r = 0; r < rows; r++) {
                s += x.get(r * cols + c);
            }
            out.set(c, s);
        }
    }

    @Override
    public void sumCols(Buf x, Buf out, int rows, int cols, boolean accumulate) {
        for (long r = 0; r < rows; r++) {
            double s = accumulate ? out.get(r) : 0;
            for (long c = 0; c < cols; c++) {
                s += x.get(r * cols + c);
            }
            out.set(r, s);
        }
    }
}
