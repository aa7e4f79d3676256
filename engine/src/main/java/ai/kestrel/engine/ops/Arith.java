package ai.kestrel.engine.ops;

import ai.kestrel.engine.Autograd;
import ai.kestrel.engine.DType;
import ai.kestrel.engine.Tensor;
import ai.kestrel.kernels.elementwise.Broadcast;
import ai.kestrel.kernels.elementwise.Elementwise;
import java.util.Arrays;

/**
 * Arithmetic with broadcasting, and the sums a loss needs.
 *
 * <p>Broadcasting: the operands of {@link #add} and {@link #mul} have equal shapes, or one of them is a scalar
 * (one element), or its shape is a suffix of the other's ({@code (D)} against {@code (B, T, D)}: one row
 * repeated), or a prefix followed by ones ({@code (B, T, 1)} against {@code (B, T, D)}: one value per row).
 * Gradients of a broadcast operand are summed back over the repeated dimensions.
 */
public final class Arith {
    private Arith() {
    }

    /** How {@code small} lines up with {@code big}, and the (rows, cols) view of {@code big}. */
    record Plan(Broadcast bc, int rows, int cols) {
    }

    static Plan plan(String op, Tensor big, Tensor small) {
        long[] bs = big.shape();
        long[] ss = small.shape();
        long n = big.numel();
        if (Arrays.equals(bs, ss)) {
            return new Plan(Broadcast.NONE, 1, Math.toIntExact(n));
        }
        if (small.numel() == 1) {
            return new Plan(Broadcast.SCALAR, 1, Math.toIntExact(n));
        }
        if (ss.length <= bs.length) {
            // suffix: (D) or (T, D) against (B, T, D)
            int off = bs.length - ss.length;
            boolean suffix = true;
            for (int i = 0; i < ss.length; i++) {
                suffix &= ss[i] == bs[off + i];
            }
            if (suffix) {
                int cols = Math.toIntExact(small.numel());
                return new Plan(Broadcast.ROW, Math.toIntExact(n / cols), cols);
            }
        }
        if (ss.length == bs.length) {
            // same rank, a prefix followed by ones: (B, T, 1) against (B, T, D)
            int k = 0;
            while (k < ss.length && ss[k] == bs[k]) {
                k++;
            }
            boolean ones = k < ss.length;
            for (int i = k; i < ss.length; i++) {
                ones &= ss[i] == 1;
            }
            if (ones) {
                int rows = Math.toIntExact(small.numel());
                return new Plan(Broadcast.COLUMN, rows, Math.toIntExact(n / rows));
            }
        }
        throw new IllegalArgumentException(op + ": cannot broadcast " + Arrays.toString(ss) + " against " + Arrays.toString(bs));
    }

    private static Elementwise kernel(String op, Tensor... ts) {
        return Dispatch.pick(Elementwise.REF, Elementwise.CPU, () -> CudaKernels.ELEMENTWISE, op, ts);
    }

    /** Sums {@code g} (shaped like the big operand) down to {@code like}'s shape per {@code p}. */
    static Tensor reduceTo(Elementwise k, Tensor g, Tensor like, Plan p) {
        return switch (p.bc()) {
            case NONE -> g;
            case ROW -> {
                Tensor r = Tensor.emptyLike(like);
                k.sumRows(g.buf(), r.buf(), p.rows(), p.cols(), false);
                yield r;
            }
            case COLUMN -> {
                Tensor r = Tensor.emptyLike(like);
                k.sumCols(g.buf(), r.buf(), p.rows(), p.cols(), false);
                yield r;
            }
            case SCALAR -> {
                Tensor r = Tensor.emptyLike(like);
                k.sumCols(g.buf(), r.buf(), 1, Math.toIntExact(g.numel()), false);
                yield r;
            }
        };
    }

    /** {@code a + b} with broadcasting. */
    public static Tensor add(Tensor a, Tensor b) {
        Elementwise k = kernel("add", a, b);
        boolean swap = b.numel() > a.numel();
        Tensor big = swap ? b : a;
        Tensor small = swap ? a : b;
        Plan p = plan("add", big, small);
        Tensor y = Tensor.emptyLike(big);
        k.add(big.buf(), small.buf(), y.buf(), p.rows(), p.cols(), p.bc());
        return Autograd.record(y, "add", (g, needs) -> {
            Tensor gBig = g;
            Tensor gSmall = needs[swap ? 0 : 1] ? reduceTo(k, g, small, p) : null;
            return swap ? new Tensor[] {gSmall, gBig} : new Tensor[] {gBig, gSmall};
        }, a, b);
    }

    /** {@code a - b} with broadcasting. */
    public static Tensor sub(Tensor a, Tensor b) {
        return add(a, scale(b, -1));
    }

    /** {@code a * b} (element-wise) with broadcasting. */
    public static Tensor mul(Tensor a, Tensor b) {
        Elementwise k = kernel("mul", a, b);
        boolean swap = b.numel() > a.numel();
        Tensor big = swap ? b : a;
        Tensor small = swap ? a : b;
        Plan p = plan("mul", big, small);
        Tensor y = Tensor.emptyLike(big);
        k.mul(big.buf(), small.buf(), y.buf(), p.rows(), p.cols(), p.bc());
        return Autograd.record(y, "mul", (g, needs) -> {
            Tensor gBig = null;
            Tensor gSmall = null;
            if (needs[swap ? 1 : 0]) {
                gBig = Tensor.zerosLike(big);
                k.mul(g.buf(), small.buf(), gBig.buf(), p.rows(), p.cols(), p.bc());
            }
            if (needs[swap ? 0 : 1]) {
                Tensor t = Tensor.zerosLike(big);
                k.mul(g.buf(), big.buf(), t.buf(), 1, Math.toIntExact(t.numel()), Broadcast.NONE);
                gSmall = reduceTo(k, t, small, p);
            }
            return swap ? new Tensor[] {gSmall, gBig} : new Tensor[] {gBig, gSmall};
        }, a, b);
    }

    /** {@code s * a}. */
    public static Tensor scale(Tensor a, double s) {
        Elementwise k = kernel("scale", a);
        Tensor y = Tensor.emptyLike(a);
        k.scale(a.buf(), s, y.buf(), a.numel());
        return Autograd.record(y, "scale", (g, needs) -> {
            Tensor d = Tensor.zerosLike(a);
            k.scale(g.buf(), s, d.buf(), a.numel());
            return new Tensor[] {d};
        }, a);
    }

    /**
     * Inverted dropout, as {@code torch.nn.functional.dropout(training=True)}: each element is kept with
     * probability {@code 1 - p} and scaled by {@code 1 / (1 - p)}, or zeroed. The mask is a function of
     * {@code seed} alone (element {@code i} draws the {@code i}-th double of {@code SplittableRandom(seed)}), so
     * a recomputation (activation checkpointing, a resumed run) gets the same mask and the backward pass
     * regenerates it instead of storing it.
     */
    public static Tensor dropout(Tensor a, double p, long seed) {
        if (!(p >= 0 && p < 1)) {
            throw new IllegalArgumentException("dropout probability must be in [0, 1), got " + p);
        }
        if (p == 0) {
            return a;
        }
        Tensor y = Tensor.emptyLike(a);
        applyMask(a, y, p, seed);
        return Autograd.record(y, "dropout", (g, needs) -> {
            Tensor d = Tensor.emptyLike(a);
            applyMask(g, d, p, seed);
            return new Tensor[] {d};
        }, a);
    }

    private static void applyMask(Tensor src, Tensor dst, double p, long seed) {
        double keep = 1 / (1 - p);
        long n = src.numel();
        // the CPU kernel draws several elements at once, in parallel chunks; float64 takes the reference; on a GPU
        // the mask is drawn on the host (a function of the seed alone) and applied there
        Elementwise k = kernel("dropout", src);
        k.dropout(src.buf(), dst.buf(), n, p, src.dtype() == DType.F64 ? keep : (float) keep, seed);
    }

    /** The sum of all elements, as a one-element tensor of shape {@code []}. */
    public static Tensor sum(Tensor a) {
        return scaledSum(a, 1.0, "sum");
    }

    /** The mean of all elements, as a one-element tensor of shape {@code []}. */
    public static Tensor mean(Tensor a) {
        return scaledSum(a, 1.0 / a.numel(), "mean");
    }

    private static Tensor scaledSum(Tensor a, double s, String name) {
        Elementwise k = kernel(name, a);
        Tensor y = Tensor.zeros(a.dtype());
        k.sumCols(a.buf(), y.buf(), 1, Math.toIntExact(a.numel()), false);
        k.scale(y.buf(), s, y.buf(), 1);
        return Autograd.record(y, name, (g, needs) -> {
            Tensor d = Tensor.zerosLike(a);
            Tensor gs = Tensor.zeros(a.dtype(), 1);
            k.scale(g.buf(), s, gs.buf(), 1);
            k.add(d.buf(), gs.buf(), d.buf(), 1, Math.toIntExact(a.numel()), Broadcast.SCALAR);
            return new Tensor[] {d};
        }, a);
    }
}
