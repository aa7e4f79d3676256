package ai.kestrel.engine;

import ai.kestrel.kernels.elementwise.Broadcast;
import ai.kestrel.kernels.elementwise.Elementwise;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Set;

/**
 * Define-by-run reverse-mode differentiation.
 *
 * <p>Ops call {@link #record} after computing their output; when gradients are enabled and any input
 * requires one, the output remembers the op's {@link Backward}. {@link #backward(Tensor)} then visits the
 * recorded graph from a scalar in reverse topological order and accumulates into each leaf's
 * {@link Tensor#grad()}. Within {@link #noGrad()} nothing is recorded (inference). Backward steps run with
 * recording off: no higher-order gradients.
 */
public final class Autograd {
    private static final ThreadLocal<int[]> DISABLED = ThreadLocal.withInitial(() -> new int[1]);

    private Autograd() {
    }

    /** True unless inside {@link #noGrad()} on this thread. */
    public static boolean isEnabled() {
        return DISABLED.get()[0] == 0;
    }

    /** Turns recording off on this thread until the handle is closed: {@code try (var ng = Autograd.noGrad()) {...}}. */
    public static NoGrad noGrad() {
        DISABLED.get()[0]++;
        return new NoGrad();
    }

    /** The handle from {@link #noGrad()}. */
    public static final class NoGrad implements AutoCloseable {
        private boolean closed;

        private NoGrad() {
        }

        @Override
        public void close() {
            if (!closed) {
                closed = true;
                DISABLED.get()[0]--;
            }
        }
    }

    /**
     * Turns recording back on on this thread until the handle is closed, even inside {@link #noGrad()} or a
     * backward step (what activation checkpointing needs to rebuild a piece of the graph).
     */
    public static AutoCloseable enableGrad() {
        int[] d = DISABLED.get();
        int saved = d[0];
        d[0] = 0;
        return () -> d[0] = saved;
    }

    /**
     * Activation checkpointing: {@code fn(x)} computed without recording (its intermediates freed at once), and
     * recomputed with recording on during backward, from a copy of {@code x}, to backpropagate through it. So
     * memory holds the input of each checkpointed piece instead of everything inside it. {@code params} are the
     * tensors {@code fn} reads that may require gradients (weights, adapter factors): they decide whether the
     * output is recorded, and the recomputed backward accumulates straight into their {@link Tensor#grad()}.
     * {@code fn} must be deterministic and free of side effects on tensors it does not create.
     */
    public static Tensor checkpoint(String name, java.util.function.UnaryOperator<Tensor> fn, Tensor x, List<Tensor> params) {
        return checkpoint(name, fn, x, params, false);
    }

    /**
     * {@link #checkpoint(String, java.util.function.UnaryOperator, Tensor, List)}, and with {@code keepProducts} the
     * selective form: the outputs of the matrix products {@code fn} makes ({@link #keptProduct}, {@link #keepProduct};
     * {@code Linalg.linear}) are copied aside in the first pass, in the scope current at this call, and the
     * recomputation in backward takes them instead of multiplying again: it redoes only the element-wise ops,
     * norms, scans and attention. The gradients are the same bit for bit (the kernels are deterministic, so the
     * recomputed input of each product is the first pass's); memory holds every checkpointed piece's product
     * outputs until the scope closes. A recomputation that asks for a product the first pass did not make, or
     * of another shape, or leaves one unused, throws: {@code fn} was not deterministic.
     */
    public static Tensor checkpoint(String name, java.util.function.UnaryOperator<Tensor> fn, Tensor x, List<Tensor> params,
            boolean keepProducts) {
        Tensor[] inputs = new Tensor[1 + params.size()];
        inputs[0] = x;
        for (int i = 0; i < params.size(); i++) {
            inputs[1 + i] = params.get(i);
        }
        if (!needsGrad(inputs)) {
            return fn.apply(x);
        }
        Scope outer = Scope.current();
        Products kept = keepProducts ? new Products(name, outer) : null;
        Tensor y;
        try (NoGrad ng = noGrad(); Scope inner = Scope.open(); Products.Active on = Products.activate(kept)) {
            y = fn.apply(x).copyTo(outer);
        }
        if (kept != null) {
            kept.replaying = true;
        }
        return record(y, name, (g, needs) -> {
            Scope resultScope = Scope.current();
            Tensor gx = null;
            try (Scope s = Scope.open(); AutoCloseable on = enableGrad()) {
                Tensor xd = x.copyTo(s);
                if (needs[0]) {
                    xd.requiresGrad(true);
                }
                Tensor y2;
                if (kept != null) {
                    kept.next = 0; // (a second backward through the same graph replays them again)
                }
                try (Products.Active replay = Products.activate(kept)) {
                    y2 = fn.apply(xd); // (backward below runs without the kept products: its ops must compute)
                }
                if (kept != null) {
                    kept.finishReplay();
                }
                if (y2.requiresGrad()) {
                    backward(y2, g);
                }
                if (needs[0]) {
                    gx = xd.grad() == null ? Tensor.zeros(resultScope, x.device(), x.dtype(), x.shape()) : xd.grad().copyTo(resultScope);
                }
            } catch (RuntimeException | Error e) {
                throw e;
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
            Tensor[] out = new Tensor[inputs.length];
            out[0] = gx;
            for (int i = 1; i < inputs.length; i++) {
                // these gradients were accumulated into the tensors' own grad by the recomputed backward
                out[i] = needs[i] ? Tensor.zeros(resultScope, inputs[i].device(), inputs[i].dtype(), inputs[i].shape()) : null;
            }
            return out;
        }, inputs);
    }

    /**
     * In the recomputation of a {@linkplain #checkpoint(String, java.util.function.UnaryOperator, Tensor, List, boolean)
     * selective checkpoint} on this thread: the output the first pass kept for this matrix product (the products
     * are taken in the order they were made), which must have {@code shape}; otherwise {@code null}, and the
     * caller computes the product.
     */
    public static Tensor keptProduct(long... shape) {
        Products p = Products.ACTIVE.get();
        return p == null || !p.replaying ? null : p.next(shape);
    }

    /** In the first pass of a selective checkpoint on this thread: keeps a copy of product output {@code y}. */
    public static void keepProduct(Tensor y) {
        Products p = Products.ACTIVE.get();
        if (p != null && !p.replaying) {
            p.kept.add(y.copyTo(p.scope));
        }
    }

    /** A selective checkpoint's kept product outputs: filled by its first pass, taken in order by its recomputation. */
    private static final class Products {
        static final ThreadLocal<Products> ACTIVE = new ThreadLocal<>();

        final String name;
        final Scope scope;
        final List<Tensor> kept = new ArrayList<>();
        boolean replaying;
        int next;

        Products(String name, Scope scope) {
            this.name = name;
            this.scope = scope;
        }

        /** Makes {@code p} (possibly null: none) the thread's active one until closed, then restores the previous. */
        static Active activate(Products p) {
            Products previous = ACTIVE.get();
            ACTIVE.set(p);
            return () -> ACTIVE.set(previous);
        }

        Tensor next(long[] shape) {
            if (next >= kept.size()) {
                throw new IllegalStateException(name + ": the recomputation made more matrix products than the first pass ("
                        + kept.size() + "): the checkpointed function is not deterministic");
            }
            Tensor t = kept.get(next++);
            if (!Arrays.equals(t.shape(), shape)) {
                throw new IllegalStateException(name + ": recomputed product " + next + " has shape " + Arrays.toString(shape)
                        + ", the first pass's " + Arrays.toString(t.shape()) + ": the checkpointed function is not deterministic");
            }
            return t;
        }

        void finishReplay() {
            if (next != kept.size()) {
                throw new IllegalStateException(name + ": the recomputation made " + next + " matrix products, the first pass "
                        + kept.size() + ": the checkpointed function is not deterministic");
            }
        }

        /** The handle of {@link #activate}. */
        interface Active extends AutoCloseable {
            @Override
            void close();
        }
    }

    /** True when recording is on and some input requires a gradient: the op should record itself. */
    public static boolean needsGrad(Tensor... inputs) {
        if (!isEnabled()) {
            return false;
        }
        for (Tensor t : inputs) {
            if (t != null && t.requiresGrad()) {
                return true;
            }
        }
        return false;
    }

    /**
     * Records that {@code out} was computed from {@code inputs} by {@code name}, with {@code backward} giving
     * the inputs' gradients. Does nothing unless {@link #needsGrad} holds. Returns {@code out}.
     * {@code null} inputs (optional operands) are allowed and never receive gradients.
     */
    public static Tensor record(Tensor out, String name, Backward backward, Tensor... inputs) {
        if (!needsGrad(inputs)) {
            return out;
        }
        out.node = new Node(name, backward, inputs.clone());
        out.requiresGrad(true);
        return out;
    }

    /** Backward from a one-element loss: its gradient is 1. */
    public static void backward(Tensor loss) {
        if (loss.numel() != 1) {
            throw new IllegalArgumentException("backward() needs a one-element loss, got shape " + Arrays.toString(loss.shape())
                    + "; pass a gradient with backward(out, grad)");
        }
        Tensor one = Tensor.zeros(loss.dtype(), loss.shape());
        one.setDouble(0, 1.0);
        backward(loss, one);
    }

    /** Backward from {@code out} with {@code gradOut} as its gradient (same shape). */
    public static void backward(Tensor out, Tensor gradOut) {
        if (!out.sameShape(gradOut)) {
            throw new IllegalArgumentException("gradient shape " + Arrays.toString(gradOut.shape()) + " differs from output "
                    + Arrays.toString(out.shape()));
        }
        if (!out.requiresGrad()) {
            throw new IllegalStateException("backward on a tensor that does not require a gradient: nothing recorded it "
                    + "(no input required a gradient, or it was computed under noGrad)");
        }
        List<Tensor> order = topologicalOrder(out);
        IdentityHashMap<Tensor, Tensor> grads = new IdentityHashMap<>();
        Set<Tensor> owned = Collections.newSetFromMap(new IdentityHashMap<>());
        if (out.isLeaf()) {
            accumulateLeaf(out, gradOut);
            return;
        }
        grads.put(out, gradOut);
        try (NoGrad ng = noGrad()) {
            for (int k = order.size() - 1; k >= 0; k--) {
                Tensor t = order.get(k);
                Tensor g = grads.remove(t);
                if (g == null) {
                    continue;
                }
                Node node = t.node;
                Tensor[] ins = node.inputs();
                boolean[] needs = new boolean[ins.length];
                for (int i = 0; i < ins.length; i++) {
                    needs[i] = ins[i] != null && ins[i].requiresGrad();
                }
                Tensor[] gin = node.backward().apply(g, needs);
                if (gin.length != ins.length) {
                    throw new IllegalStateException(node.name() + " backward returned " + gin.length + " gradients for " + ins.length + " inputs");
                }
                for (int i = 0; i < ins.length; i++) {
                    if (!needs[i]) {
                        continue;
                    }
                    Tensor gi = gin[i];
                    if (gi == null) {
                        throw new IllegalStateException(node.name() + " backward gave no gradient for input " + i + " that needs one");
                    }
                    if (!gi.sameShape(ins[i])) {
                        throw new IllegalStateException(node.name() + " backward: gradient of input " + i + " has shape "
                                + Arrays.toString(gi.shape()) + ", input is " + Arrays.toString(ins[i].shape()));
                    }
                    if (gi.device() != ins[i].device()) {
                        throw new IllegalStateException(node.name() + " backward: gradient of input " + i + " is on "
                                + gi.device() + ", the input on " + ins[i].device());
                    }
                    if (ins[i].isLeaf()) {
                        accumulateLeaf(ins[i], gi);
                    } else {
                        Tensor prev = grads.get(ins[i]);
                        if (prev == null) {
                            grads.put(ins[i], gi);
                        } else if (owned.contains(prev)) {
                            axpy(gi, prev);
                        } else {
                            // the previous gradient may be shared with another input (add passes gradOut through): sum into a new one
                            Tensor sum = sum(prev, gi);
                            owned.add(sum);
                            grads.put(ins[i], sum);
                        }
                    }
                }
            }
        }
    }

    private static void accumulateLeaf(Tensor leaf, Tensor g) {
        if (leaf.grad() == null) {
            leaf.setGrad(Tensor.zeros(leaf.scope(), leaf.device(), leaf.dtype(), leaf.shape()));
        }
        axpy(g, leaf.grad());
    }

    /** The GPU's element-wise kernels, loaded on first use. */
    private static final class OnGpu {
        static final Elementwise ELEMENTWISE = new ai.kestrel.kernels.cuda.ElementwiseCuda();
    }

    /**
     * {@code a + b} in a new tensor, one pass (a zeroed tensor and two {@link #axpy} calls wrote it three times and
     * read it twice: a LoRA training step sums a layer input's gradients from its base and adapter products).
     */
    private static Tensor sum(Tensor a, Tensor b) {
        check(a, b);
        Tensor out = Tensor.emptyLike(a);
        Elementwise k = a.device() == Device.CUDA ? OnGpu.ELEMENTWISE
                : a.dtype() == DType.F64 ? Elementwise.REF : Elementwise.CPU;
        k.add(a.buf(), b.buf(), out.buf(), 1, Math.toIntExact(a.numel()), Broadcast.NONE);
        return out;
    }

    /** Throws unless gradient {@code x} may be summed into {@code y}'s (same dtype and device). */
    private static void check(Tensor x, Tensor y) {
        if (x.dtype() != y.dtype()) {
            throw new IllegalStateException("gradient dtype " + x.dtype() + " differs from " + y.dtype());
        }
        if (x.device() != y.device()) {
            throw new IllegalStateException("gradient on " + x.device() + " for a tensor on " + y.device());
        }
    }

    /** {@code y += x}, same shape, dtypes F32/F64. */
    private static void axpy(Tensor x, Tensor y) {
        check(x, y);
        Elementwise k = x.device() == Device.CUDA ? OnGpu.ELEMENTWISE
                : x.dtype() == DType.F64 ? Elementwise.REF : Elementwise.CPU;
        k.axpy(1.0, x.buf(), y.buf(), x.numel());
    }

    /** Tensors with a recorded node reachable from {@code root}, inputs before outputs. */
    private static List<Tensor> topologicalOrder(Tensor root) {
        List<Tensor> order = new ArrayList<>();
        Set<Tensor> seen = Collections.newSetFromMap(new IdentityHashMap<>());
        ArrayDeque<Object[]> stack = new ArrayDeque<>(); // {tensor, next input index}
        if (root.node == null) {
            return order;
        }
        stack.push(new Object[] {root, 0});
        seen.add(root);
        while (!stack.isEmpty()) {
            Object[] top = stack.peek();
            Tensor t = (Tensor) top[0];
            int i = (Integer) top[1];
            Tensor[] ins = t.node.inputs();
            if (i < ins.length) {
                top[1] = i + 1;
                Tensor in = ins[i];
                if (in != null && in.node != null && in.requiresGrad() && seen.add(in)) {
                    stack.push(new Object[] {in, 0});
                }
            } else {
                stack.pop();
                order.add(t);
            }
        }
        return order;
    }
}
