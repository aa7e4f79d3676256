package ai.kestrel.engine.ops;

import ai.kestrel.engine.Autograd;
import ai.kestrel.engine.DType;
import ai.kestrel.engine.Tensor;
import ai.kestrel.kernels.elementwise.Elementwise;
import ai.kestrel.kernels.matmul.Matmul;
import ai.kestrel.kernels.quant.WeightFormat;
import ai.kestrel.kernels.quant.Weights;
import java.util.Arrays;

/** Linear layers: products with a weight matrix kept in its stored format, and their gradients. */
public final class Linalg {
    private Linalg() {
    }

    /** The kernel view of a weight tensor {@code (N, K)} of any weight dtype. */
    public static Weights weights(Tensor w) {
        if (w.rank() != 2) {
            throw new IllegalArgumentException("a weight matrix must be 2-D (N, K), got shape " + Arrays.toString(w.shape()));
        }
        return new Weights(format(w.dtype()), w.dim(0), w.dim(1), w.segment());
    }

    /** {@link #weights(Tensor)}, rounding the products' input as {@code numerics} says. */
    public static Weights weights(Tensor w, Numerics numerics) {
        return weights(w).roundingInput(numerics == Numerics.GGML);
    }

    /** The kernel weight format of a dtype. */
    public static WeightFormat format(DType t) {
        return switch (t) {
            case F32 -> WeightFormat.F32;
            case F64 -> WeightFormat.F64;
            case F16 -> WeightFormat.F16;
            case BF16 -> WeightFormat.BF16;
            case Q8_0 -> WeightFormat.Q8_0;
            case NF4 -> WeightFormat.NF4;
            default -> throw new IllegalArgumentException("weights cannot be " + t);
        };
    }

    /**
     * {@code y = x·wᵀ + bias}, as {@code torch.nn.functional.linear}.
     *
     * @param x    (..., K), F32 or F64
     * @param w    (N, K): F32, BF16, F16, Q8_0 or NF4 with F32 {@code x}; F64 (or any format, decoded exactly) with F64 {@code x}
     * @param bias (N) or {@code null}, the dtype of {@code x}
     * @return (..., N). Gradients flow to {@code x} always, to {@code w} and {@code bias} when they require them
     *         (a quantized or 16-bit weight is frozen: it cannot require a gradient).
     */
    public static Tensor linear(Tensor x, Tensor w, Tensor bias) {
        return linear(x, w, bias, Numerics.TRANSFORMERS);
    }

    /**
     * {@link #linear(Tensor, Tensor, Tensor)} with {@code numerics} deciding what happens to {@code x} before an F16 or
     * BF16 weight multiplies it ({@link Numerics#GGML}: rounded to the weight's type, as llama.cpp computes).
     */
    public static Tensor linear(Tensor x, Tensor w, Tensor bias, Numerics numerics) {
        Dispatch.computeType("linear", x, bias);
        if (x.device() == ai.kestrel.engine.Device.CUDA || w.device() == ai.kestrel.engine.Device.CUDA) {
            return linearGpu(x, w, bias, numerics);
        }
        boolean ref = x.dtype() == DType.F64;
        if (!ref && w.dtype() == DType.F64) {
            throw new IllegalArgumentException("linear: F64 weights need F64 input, got " + x.dtype());
        }
        Matmul k = ref ? Matmul.REF : Matmul.CPU;
        Weights wt = weights(w, numerics);
        int n = wt.n();
        int kk = wt.k();
        if (bias != null) {
            Dispatch.shape("linear", "bias", bias, n);
        }
        int m = Dispatch.rows(x);
        boolean keep = keeps(w);
        Tensor y = keep ? Autograd.keptProduct(outputShape(x, wt)) : null; // (a selective checkpoint's recomputation: the first pass's)
        if (y == null) {
            y = output(x, wt);
            k.forward(x.buf(), wt, Dispatch.buf(bias), y.buf(), m);
            if (keep) {
                Autograd.keepProduct(y);
            }
        }
        return Autograd.record(y, "linear", (g, needs) -> {
            Tensor dx = null;
            Tensor dw = null;
            Tensor db = null;
            if (needs[0]) {
                dx = Tensor.emptyLike(x); // (overwritten: not accumulating)
                k.backwardInput(g.buf(), wt, dx.buf(), m, false);
            }
            if (needs[1]) {
                dw = Tensor.zerosLike(w);
                k.backwardWeight(g.buf(), x.buf(), dw.buf(), m, n, kk);
            }
            if (needs[2]) {
                db = Tensor.emptyLike(bias);
                (ref ? Elementwise.REF : Elementwise.CPU).sumRows(g.buf(), db.buf(), m, n, false);
            }
            return new Tensor[] {dx, dw, db};
        }, x, w, bias);
    }

    /**
     * {@code y + x·wᵀ} in one pass over the output, as {@code torch.addmm(y, x, w.T)}: a LoRA adapter's B product
     * added to its base product (the product, a scaling and an addition each read or wrote the whole (M, N) output
     * before). Gradients: {@code y} receives the output's gradient as it is; {@code x} and {@code w} as {@link #linear}
     * gives them. On the GPU it is {@link Arith#add} of {@link #linear}.
     *
     * @param y (..., N), the dtype of {@code x}
     * @param x (..., K), F32 or F64
     * @param w (N, K), any weight dtype {@link #linear} takes
     */
    public static Tensor addLinear(Tensor y, Tensor x, Tensor w) {
        if (x.device() == ai.kestrel.engine.Device.CUDA || w.device() == ai.kestrel.engine.Device.CUDA
                || y.device() == ai.kestrel.engine.Device.CUDA) {
            return Arith.add(y, linear(x, w, null));
        }
        Dispatch.computeType("addLinear", x, y);
        boolean ref = x.dtype() == DType.F64;
        if (!ref && w.dtype() == DType.F64) {
            throw new IllegalArgumentException("addLinear: F64 weights need F64 input, got " + x.dtype());
        }
        Matmul k = ref ? Matmul.REF : Matmul.CPU;
        Weights wt = weights(w);
        long[] shape = outputShape(x, wt);
        if (!Arrays.equals(shape, y.shape())) {
            throw new IllegalArgumentException("addLinear: y has shape " + Arrays.toString(y.shape()) + ", the product "
                    + Arrays.toString(shape));
        }
        int m = Dispatch.rows(x);
        Tensor out = Tensor.empty(x.dtype(), shape);
        k.forwardAdd(x.buf(), wt, y.buf(), out.buf(), m);
        return Autograd.record(out, "addLinear", (g, needs) -> {
            Tensor dx = null;
            Tensor dw = null;
            if (needs[1]) {
                dx = Tensor.emptyLike(x);
                k.backwardInput(g.buf(), wt, dx.buf(), m, false);
            }
            if (needs[2]) {
                dw = Tensor.zerosLike(w);
                k.backwardWeight(g.buf(), x.buf(), dw.buf(), m, wt.n(), wt.k());
            }
            return new Tensor[] {g, dx, dw};
        }, y, x, w);
    }

    /**
     * {@code x·wᵀ + h·uᵀ}, two products into one output written once: a LoRA-wrapped linear, {@code w} the base
     * weight and {@code u} the adapter's B, {@code h} the scaled adapter's A product (see
     * {@link ai.kestrel.kernels.matmul.Matmul#forwardPair}). The same values as {@code addLinear(linear(x, w), h, u)}
     * within float32 rounding; the output is written once instead of twice, and with a selective checkpoint
     * ({@link Autograd#keepProduct}) it is kept when {@code w} is frozen, as {@link #linear}'s is. Gradients: {@code x}
     * and {@code h} as {@link #linear} gives them, {@code w} and {@code u} when they require them. On the GPU it is
     * {@link #addLinear} of {@link #linear}.
     *
     * @param x (..., K), F32 or F64
     * @param w (N, K), any weight dtype {@link #linear} takes; its input rounded as {@code numerics} says
     * @param h (..., r), the dtype and leading shape of {@code x}
     * @param u (N, r)
     */
    public static Tensor linearPair(Tensor x, Tensor w, Tensor h, Tensor u, Numerics numerics) {
        if (x.device() == ai.kestrel.engine.Device.CUDA || w.device() == ai.kestrel.engine.Device.CUDA
                || h.device() == ai.kestrel.engine.Device.CUDA || u.device() == ai.kestrel.engine.Device.CUDA) {
            return addLinear(linear(x, w, null, numerics), h, u);
        }
        Dispatch.computeType("linearPair", x, h);
        boolean ref = x.dtype() == DType.F64;
        if (!ref && (w.dtype() == DType.F64 || u.dtype() == DType.F64)) {
            throw new IllegalArgumentException("linearPair: F64 weights need F64 input, got " + x.dtype());
        }
        Matmul k = ref ? Matmul.REF : Matmul.CPU;
        Weights wt = weights(w, numerics);
        Weights ut = weights(u);
        long[] shape = outputShape(x, wt);
        if (!Arrays.equals(outputShape(h, ut), shape)) { // (x and h: the same leading shape; w and u: as many rows)
            throw new IllegalArgumentException("linearPair: x " + Arrays.toString(x.shape()) + " times w " + Arrays.toString(w.shape())
                    + " and h " + Arrays.toString(h.shape()) + " times u " + Arrays.toString(u.shape()) + " do not make one output");
        }
        int m = Dispatch.rows(x);
        boolean keep = keeps(w);
        Tensor y = keep ? Autograd.keptProduct(shape) : null; // (a selective checkpoint's recomputation: the first pass's)
        if (y == null) {
            y = Tensor.empty(x.dtype(), shape);
            k.forwardPair(x.buf(), wt, h.buf(), ut, y.buf(), m);
            if (keep) {
                Autograd.keepProduct(y);
            }
        }
        return Autograd.record(y, "linearPair", (g, needs) -> {
            Tensor[] grads = new Tensor[4];
            Weights[] ws = {wt, ut};
            Tensor[] ins = {x, h};
            for (int j = 0; j < 2; j++) {
                if (needs[2 * j]) {
                    grads[2 * j] = Tensor.emptyLike(ins[j]); // (overwritten: not accumulating)
                    k.backwardInput(g.buf(), ws[j], grads[2 * j].buf(), m, false);
                }
                if (needs[2 * j + 1]) {
                    grads[2 * j + 1] = Tensor.zerosLike(j == 0 ? w : u);
                    k.backwardWeight(g.buf(), ins[j].buf(), grads[2 * j + 1].buf(), m, ws[j].n(), ws[j].k());
                }
            }
            return grads;
        }, x, w, h, u);
    }

    /** {@link #linear} with every operand on the GPU: the weight stays there in its stored format. */
    private static Tensor linearGpu(Tensor x, Tensor w, Tensor bias, Numerics numerics) {
        if (x.device() != w.device()) {
            throw new IllegalArgumentException("linear: input on " + x.device() + " and weight on " + w.device() + " (move them with Tensor.to)");
        }
        if (w.rank() != 2) {
            throw new IllegalArgumentException("a weight matrix must be 2-D (N, K), got shape " + Arrays.toString(w.shape()));
        }
        ai.kestrel.kernels.quant.WeightFormat f = format(w.dtype());
        int n = w.dim(0);
        int kk = w.dim(1);
        Dispatch.lastDim("linear", "input", x, kk);
        if (bias != null) {
            Dispatch.shape("linear", "bias", bias, n);
        }
        long[] outShape = x.shape();
        outShape[outShape.length - 1] = n;
        int m = Dispatch.rows(x);
        ai.kestrel.kernels.cuda.Cuda c = ai.kestrel.kernels.cuda.Cuda.get();
        ai.kestrel.kernels.cuda.DevBuf wd = ((ai.kestrel.engine.Storage.Gpu) w.storage()).buf();
        boolean keep = keeps(w);
        Tensor y = keep ? Autograd.keptProduct(outShape) : null;
        if (y == null) {
            y = Tensor.empty(x.device(), x.dtype(), outShape);
            ai.kestrel.kernels.cuda.MatmulCuda.forward(c, x.buf().devBuf(), f, numerics == Numerics.GGML, wd, n, kk,
                    bias == null ? null : bias.buf().devBuf(), y.buf().devBuf(), m);
            if (keep) {
                Autograd.keepProduct(y);
            }
        }
        return Autograd.record(y, "linear", (g, needs) -> {
            Tensor dx = null;
            Tensor dw = null;
            Tensor db = null;
            ai.kestrel.kernels.cuda.DevBuf gd = g.to(ai.kestrel.engine.Device.CUDA).buf().devBuf();
            if (needs[0]) {
                dx = Tensor.zerosLike(x);
                ai.kestrel.kernels.cuda.MatmulCuda.backwardInput(c, gd, f, wd, n, kk, dx.buf().devBuf(), m, false);
            }
            if (needs[1]) {
                dw = Tensor.zerosLike(w);
                ai.kestrel.kernels.cuda.MatmulCuda.backwardWeight(c, gd, x.buf().devBuf(), dw.buf().devBuf(), m, n, kk);
            }
            if (needs[2]) {
                db = Tensor.zerosLike(bias);
                ai.kestrel.kernels.cuda.ElementwiseCuda.sumRows(c, gd, db.buf().devBuf(), m, n, false);
            }
            return new Tensor[] {dx, dw, db};
        }, x, w, bias);
    }

    /**
     * {@code x·ws[j]ᵀ} for several weight matrices of one input, without gradients: the same values as one
     * {@link #linear} per matrix, computed in one pass of the kernel pool when {@code x} has few rows (decoding:
     * a layer's q, k, v and in_proj, or its gate and up, then cost one hand-off instead of one each). With
     * autograd enabled, F64 input or F64 weights it is one {@link #linear} per matrix, recorded and checked as usual.
     */
    public static Tensor[] linearMany(Tensor x, Tensor... ws) {
        return linearMany(Numerics.TRANSFORMERS, x, ws);
    }

    /** {@link #linearMany(Tensor, Tensor...)} with each product's input rounded as {@code numerics} says. */
    public static Tensor[] linearMany(Numerics numerics, Tensor x, Tensor... ws) {
        Tensor[] ys = new Tensor[ws.length];
        if (Autograd.isEnabled() || x.dtype() == DType.F64 || ws.length == 1 || Arrays.stream(ws).anyMatch(w -> w.dtype() == DType.F64)) {
            for (int j = 0; j < ws.length; j++) {
                ys[j] = linear(x, ws[j], null, numerics);
            }
            return ys;
        }
        Dispatch.computeType("linear", x, null);
        if (x.device() == ai.kestrel.engine.Device.CUDA) {
            for (int j = 0; j < ws.length; j++) {
                ys[j] = linear(x, ws[j], null, numerics);
            }
            return ys;
        }
        Weights[] wts = new Weights[ws.length];
        ai.kestrel.kernels.Buf[] bufs = new ai.kestrel.kernels.Buf[ws.length];
        for (int j = 0; j < ws.length; j++) {
            wts[j] = weights(ws[j], numerics);
            ys[j] = output(x, wts[j]);
            bufs[j] = ys[j].buf();
        }
        Matmul.CPU.forwardMany(x.buf(), wts, null, bufs, Dispatch.rows(x));
        for (int j = 0; j < ws.length; j++) {
            if (keeps(ws[j])) {
                Autograd.keepProduct(ys[j]); // (in a selective checkpoint's first pass: its recomputation calls linear per matrix)
            }
        }
        return ys;
    }

    /**
     * Whether a selective checkpoint keeps the output of a product with weight {@code w} ({@link Autograd#keepProduct}):
     * when {@code w} is frozen, i.e. the base model's products under an adapter. A LoRA adapter's B product is as
     * wide as its base product and cheap to redo (its reduction is r long): kept as well, it doubled the memory the
     * option costs (Falcon-H1-0.5B, r 16 on 8 targets, 2 x 512 tokens: 7.29 GB peak against 5.38-5.73 keeping the
     * base products only, and 3.67 without the option).
     */
    private static boolean keeps(Tensor w) {
        return !w.requiresGrad();
    }

    /** The output of {@code x (..., K)} times {@code wt (N, K)}ᵀ: an empty {@code (..., N)}, after checking K. */
    private static Tensor output(Tensor x, Weights wt) {
        return Tensor.empty(x.dtype(), outputShape(x, wt));
    }

    /** The shape of {@code x (..., K)} times {@code wt (N, K)}ᵀ, {@code (..., N)}, after checking K. */
    private static long[] outputShape(Tensor x, Weights wt) {
        Dispatch.lastDim("linear", "input", x, wt.k());
        long[] outShape = x.shape();
        outShape[outShape.length - 1] = wt.n();
        return outShape;
    }
}
