package ai.kestrel.engine;

import ai.kestrel.kernels.Buf;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.Objects;

/**
 * An n-dimensional array: shape, dtype, device and storage, always contiguous and row-major.
 *
 * <p>Operations live in the op families of {@code ai.kestrel.engine.ops}, not here. A tensor belongs to the
 * {@link Scope} that allocated it and dies with it. For autograd it carries {@link #requiresGrad()}, its
 * accumulated {@link #grad()} (for leaves) and, for results of differentiable ops, the recorded backward step.
 */
public final class Tensor {
    private final long[] shape;
    private final DType dtype;
    private final Device device;
    private final Storage storage;
    private final Scope scope;
    private boolean requiresGrad;
    private Tensor grad;
    Node node;

    private Tensor(long[] shape, DType dtype, Device device, Storage storage, Scope scope) {
        this.shape = shape;
        this.dtype = dtype;
        this.device = device;
        this.storage = storage;
        this.scope = scope;
    }

    // ---- creation -------------------------------------------------------------------------------------

    /** A zeroed tensor in the {@linkplain Scope#current() current scope}. */
    public static Tensor zeros(DType dtype, long... shape) {
        return zeros(Scope.current(), dtype, shape);
    }

    /** A zeroed tensor in {@code scope}. */
    public static Tensor zeros(Scope scope, DType dtype, long... shape) {
        long[] s = checkShape(shape);
        long n = numel(s);
        checkBlocks(dtype, s);
        long bytes = dtype.bytes(n);
        MemorySegment seg;
        if (bytes >= ZERO_IN_PARALLEL && scope != Scope.global()) { // (the global scope's memory comes zeroed)
            // fresh pages fault in on first touch, and that dominates zeroing them: all kernel threads take a
            // share (a 1.5B-Deep generation cache, 66 layers' SSM states and KV rows, 173 MB: ~160 ms on one thread)
            seg = scope.allocateUninitialized(bytes);
            long chunks = (bytes + ZERO_CHUNK - 1) / ZERO_CHUNK;
            ai.kestrel.kernels.Parallel.range((int) chunks, 1, (lo, hi) -> {
                long from = lo * ZERO_CHUNK;
                seg.asSlice(from, Math.min(bytes, hi * ZERO_CHUNK) - from).fill((byte) 0);
            });
        } else {
            seg = scope.allocate(bytes);
        }
        return new Tensor(s, dtype, Device.CPU, new Storage.Host(seg), scope);
    }

    /** Zeroed tensors at least this large are zeroed on all kernel threads. */
    private static final long ZERO_IN_PARALLEL = 512 << 10;
    private static final long ZERO_CHUNK = 128 << 10;

    /** A zeroed tensor with the shape, dtype and device of {@code like}, in the current scope. */
    public static Tensor zerosLike(Tensor like) {
        return zeros(Scope.current(), like.device, like.dtype, like.shape);
    }

    /** A zeroed tensor on {@code device} in {@code scope}. */
    public static Tensor zeros(Scope scope, Device device, DType dtype, long... shape) {
        if (device == Device.CPU) {
            return zeros(scope, dtype, shape);
        }
        long[] s = checkShape(shape);
        checkBlocks(dtype, s);
        ai.kestrel.kernels.cuda.DevBuf d = scope.allocateDevice(dtype.bytes(numel(s)));
        ai.kestrel.kernels.cuda.Cuda.get().fill(d, 0, d.bytes());
        return new Tensor(s, dtype, device, new Storage.Gpu(d), scope);
    }

    /** A tensor whose contents are undefined on {@code device}, in the current scope (see {@link #empty}). */
    public static Tensor empty(Device device, DType dtype, long... shape) {
        if (device == Device.CPU) {
            return empty(dtype, shape);
        }
        long[] s = checkShape(shape);
        checkBlocks(dtype, s);
        Scope scope = Scope.current();
        return new Tensor(s, dtype, device, new Storage.Gpu(scope.allocateDevice(dtype.bytes(numel(s)))), scope);
    }

    /**
     * This tensor's values on {@code device}: itself when it is already there, else a copy in the current scope,
     * detached from the autograd graph (move parameters and inputs before building the graph).
     */
    public Tensor to(Device device) {
        if (device == this.device) {
            return this;
        }
        Tensor t = empty(device, dtype, shape);
        ai.kestrel.kernels.cuda.Cuda cuda = ai.kestrel.kernels.cuda.Cuda.get();
        if (device == Device.CUDA) {
            cuda.upload(segment(), ((Storage.Gpu) t.storage).buf());
        } else {
            cuda.download(((Storage.Gpu) storage).buf(), t.segment());
        }
        return t;
    }

    /**
     * A tensor whose contents are undefined, in the current scope: for outputs a kernel writes completely. It
     * skips the zeroing {@link #zeros} does (large allocations come from the C allocator, which reuses freed
     * blocks, when the JVM grants {@code ai.kestrel.engine} native access and a scope is open; otherwise it is
     * {@link #zeros}).
     * With {@code -Dkestrel.poison=true} (the test suites) its bytes are all 0xFF, a NaN in every float type,
     * so a kernel that leaves part of its output unwritten fails loudly.
     */
    public static Tensor empty(DType dtype, long... shape) {
        long[] s = checkShape(shape);
        checkBlocks(dtype, s);
        Scope scope = Scope.current();
        return new Tensor(s, dtype, Device.CPU, new Storage.Host(scope.allocateUninitialized(dtype.bytes(numel(s)))), scope);
    }

    /** {@link #empty} with the shape, dtype and device of {@code like}. */
    public static Tensor emptyLike(Tensor like) {
        return empty(like.device, like.dtype, like.shape);
    }

    /** A float32 tensor holding a copy of {@code data}, in the current scope. */
    public static Tensor of(float[] data, long... shape) {
        Tensor t = zeros(DType.F32, shape);
        requireLength(data.length, t.numel());
        MemorySegment.copy(data, 0, t.segment(), Buf.F32, 0, data.length);
        return t;
    }

    /** A float64 tensor holding a copy of {@code data}, in the current scope. */
    public static Tensor ofDoubles(double[] data, long... shape) {
        Tensor t = zeros(DType.F64, shape);
        requireLength(data.length, t.numel());
        MemorySegment.copy(data, 0, t.segment(), Buf.F64, 0, data.length);
        return t;
    }

    /** An int32 tensor holding a copy of {@code data} (token ids, labels), in the current scope. */
    public static Tensor ofInts(int[] data, long... shape) {
        Tensor t = zeros(DType.I32, shape);
        requireLength(data.length, t.numel());
        MemorySegment.copy(data, 0, t.segment(), ValueLayout.JAVA_INT_UNALIGNED.withOrder(java.nio.ByteOrder.LITTLE_ENDIAN), 0, data.length);
        return t;
    }

    /** A float32 scalar (shape {@code []}). */
    public static Tensor scalar(float v) {
        return of(new float[] {v});
    }

    /**
     * A tensor over existing memory (a memory-mapped weight, say) without copying. The memory's lifetime is
     * the caller's business; the tensor is accounted to {@code scope} for gradients it may need.
     */
    public static Tensor wrap(MemorySegment segment, DType dtype, long... shape) {
        long[] s = checkShape(shape);
        checkBlocks(dtype, s);
        long need = dtype.bytes(numel(s));
        if (segment.byteSize() != need) {
            throw new IllegalArgumentException("a " + dtype + " tensor of shape " + Arrays.toString(s) + " needs "
                    + need + " bytes; the segment has " + segment.byteSize());
        }
        return new Tensor(s, dtype, Device.CPU, new Storage.Host(segment), Scope.current());
    }

    private static void requireLength(long have, long need) {
        if (have != need) {
            throw new IllegalArgumentException("data has " + have + " elements; the shape needs " + need);
        }
    }

    private static long[] checkShape(long[] shape) {
        long[] s = shape.clone();
        for (long d : s) {
            if (d < 0) {
                throw new IllegalArgumentException("negative dimension in shape " + Arrays.toString(s));
            }
        }
        numel(s);
        return s;
    }

    private static void checkBlocks(DType dtype, long[] s) {
        if (dtype.blockSize() > 1 && (s.length == 0 || s[s.length - 1] % dtype.blockSize() != 0)) {
            throw new IllegalArgumentException(dtype + " needs a last dimension that is a multiple of " + dtype.blockSize()
                    + "; shape is " + Arrays.toString(s));
        }
    }

    static long numel(long[] s) {
        long n = 1;
        try {
            for (long d : s) {
                n = Math.multiplyExact(n, d);
            }
        } catch (ArithmeticException e) {
            throw new IllegalArgumentException("shape " + Arrays.toString(s) + " has more elements than a long can count", e);
        }
        return n;
    }

    /**
     * The same storage seen with another shape (same element count; one dimension may be -1 to be inferred).
     * Recorded for autograd: the gradient flows back reshaped.
     */
    public Tensor view(long... newShape) {
        long[] s = newShape.clone();
        int infer = -1;
        long known = 1;
        for (int i = 0; i < s.length; i++) {
            if (s[i] == -1) {
                if (infer >= 0) {
                    throw new IllegalArgumentException("view: more than one -1 in " + Arrays.toString(newShape));
                }
                infer = i;
            } else {
                known = Math.multiplyExact(known, s[i]);
            }
        }
        if (infer >= 0) {
            if (known == 0 || numel() % known != 0) {
                throw new IllegalArgumentException("cannot view " + Arrays.toString(shape) + " as " + Arrays.toString(newShape));
            }
            s[infer] = numel() / known;
        }
        Tensor v = viewAs(s);
        long[] orig = shape;
        return Autograd.record(v, "view", (g, needs) -> new Tensor[] {g.viewAs(orig)}, this);
    }

    /** A new tensor of another shape over the same storage (same element count); no gradient is recorded. */
    Tensor viewAs(long... newShape) {
        long[] s = checkShape(newShape);
        if (numel(s) != numel()) {
            throw new IllegalArgumentException("cannot view " + Arrays.toString(shape) + " as " + Arrays.toString(s));
        }
        checkBlocks(dtype, s);
        return new Tensor(s, dtype, device, storage, scope);
    }

    // ---- description ----------------------------------------------------------------------------------

    /** The shape (a copy). */
    public long[] shape() {
        return shape.clone();
    }

    /** Size of dimension {@code d}; negative {@code d} counts from the end. */
    public long size(int d) {
        return shape[d < 0 ? shape.length + d : d];
    }

    /** Size of dimension {@code d} as an int (kernels take int dimensions); throws if it does not fit. */
    public int dim(int d) {
        return Math.toIntExact(size(d));
    }

    public int rank() {
        return shape.length;
    }

    public long numel() {
        return numel(shape);
    }

    public DType dtype() {
        return dtype;
    }

    public Device device() {
        return device;
    }

    public Storage storage() {
        return storage;
    }

    /** The scope that owns this tensor's memory. */
    public Scope scope() {
        return scope;
    }

    /**
     * The host memory behind this tensor. Throws {@link IllegalStateException} naming the tensor and its scope when
     * that memory was freed (its scope closed).
     */
    public MemorySegment segment() {
        if (storage instanceof Storage.Host h) {
            MemorySegment seg = h.segment();
            if (!seg.scope().isAlive()) {
                throw new IllegalStateException("a tensor " + Arrays.toString(shape) + " " + dtype + " was used after its memory was freed"
                        + " (scope '" + scope.name() + "' closed): keep it in a scope that lives long enough, or copyTo one that does");
            }
            return seg;
        }
        throw new IllegalStateException("tensor is on " + device + ", not on the host");
    }

    /** The host memory behind this tensor, or a host copy of a GPU tensor's (for reading values). */
    private MemorySegment readable() {
        if (storage instanceof Storage.Gpu g) {
            MemorySegment host = Arena.ofAuto().allocate(Math.max(1, g.buf().bytes()), 64).asSlice(0, dtype.bytes(numel()));
            ai.kestrel.kernels.cuda.Cuda.get().download(g.buf(), host);
            return host;
        }
        return segment();
    }

    /** This tensor as a kernel buffer; F32, F64 and F16 on the host, F32 on the GPU. */
    public Buf buf() {
        if (storage instanceof Storage.Gpu g) {
            if (dtype != DType.F32) {
                throw new IllegalStateException("a " + dtype + " tensor on the GPU is not a float32 buffer");
            }
            return Buf.onDevice(g.buf(), numel());
        }
        return switch (dtype) {
            case F32 -> Buf.f32(segment());
            case F64 -> Buf.f64(segment());
            case F16 -> Buf.f16(segment());
            default -> throw new IllegalStateException("a " + dtype + " tensor is not a float32/float64/float16 buffer");
        };
    }

    /** True when both have the same shape. */
    public boolean sameShape(Tensor o) {
        return Arrays.equals(shape, o.shape);
    }

    // ---- autograd -------------------------------------------------------------------------------------

    public boolean requiresGrad() {
        return requiresGrad;
    }

    /** Marks a leaf tensor as a parameter whose gradient {@link Autograd#backward} accumulates into {@link #grad()}. */
    public Tensor requiresGrad(boolean on) {
        if (node != null && !on) {
            throw new IllegalStateException("cannot turn off requiresGrad on a non-leaf tensor; use detach()");
        }
        if (on && !dtype.isCompute()) {
            throw new IllegalArgumentException("only F32/F64 tensors can require gradients, this is " + dtype);
        }
        this.requiresGrad = on;
        return this;
    }

    /** True for tensors not produced by a recorded op (inputs, parameters). */
    public boolean isLeaf() {
        return node == null;
    }

    /** The gradient accumulated by backward passes (leaves only), or {@code null}. Lives in this tensor's scope. */
    public Tensor grad() {
        return grad;
    }

    void setGrad(Tensor g) {
        this.grad = g;
    }

    /**
     * A copy of this tensor's values owned by {@code scope}, detached from the autograd graph: how a result
     * outlives the inner scope that computed it ({@code x = y.copyTo(outer)} before the inner scope closes).
     */
    public Tensor copyTo(Scope scope) {
        if (storage instanceof Storage.Gpu g) {
            ai.kestrel.kernels.cuda.DevBuf d = scope.allocateDevice(g.buf().bytes());
            ai.kestrel.kernels.cuda.Cuda.get().copy(g.buf(), d, g.buf().bytes());
            return new Tensor(shape.clone(), dtype, device, new Storage.Gpu(d), scope);
        }
        MemorySegment seg = scope.allocateUninitialized(segment().byteSize());
        MemorySegment.copy(segment(), 0, seg, 0, seg.byteSize());
        return new Tensor(shape.clone(), dtype, device, new Storage.Host(seg), scope);
    }

    /**
     * Overwrites this tensor's values with {@code src}'s (same dtype and element count), across devices too: a
     * checkpoint read on the host into a parameter on the GPU, say. No autograd.
     */
    public void copyFrom(Tensor src) {
        if (src.dtype != dtype || src.numel() != numel()) {
            throw new IllegalArgumentException("copyFrom: a " + src.dtype + " tensor of shape " + Arrays.toString(src.shape)
                    + " into a " + dtype + " tensor of shape " + Arrays.toString(shape));
        }
        long bytes = dtype.bytes(numel());
        if (src.device == device) {
            copyBytes(src, 0, this, 0, bytes);
        } else if (storage instanceof Storage.Gpu g) {
            ai.kestrel.kernels.cuda.Cuda.get().upload(src.segment().asSlice(0, bytes), g.buf());
        } else {
            ai.kestrel.kernels.cuda.Cuda.get().download(((Storage.Gpu) src.storage).buf(), segment().asSlice(0, bytes));
        }
    }

    /**
     * Rows {@code [start, start + count)} of dimension 0 as a tensor over the same memory (host or GPU), in the
     * current scope's accounting but owned by this tensor's; no autograd (cache rows, batch prefixes).
     */
    public Tensor rows(long start, long count) {
        if (rank() == 0 || start < 0 || count < 0 || start + count > shape[0]) {
            throw new IllegalArgumentException("rows [" + start + ", " + (start + count) + ") of shape " + Arrays.toString(shape));
        }
        long rowBytes = shape[0] == 0 ? 0 : storage.byteSize() / shape[0];
        long[] s = shape.clone();
        s[0] = count;
        Storage st = storage instanceof Storage.Gpu g
                ? new Storage.Gpu(g.buf().view(start * rowBytes, count * rowBytes))
                : new Storage.Host(segment().asSlice(start * rowBytes, count * rowBytes));
        return new Tensor(s, dtype, device, st, scope);
    }

    /**
     * Copies {@code bytes} bytes of {@code src}'s storage from byte {@code srcOffset} into {@code dst}'s at
     * {@code dstOffset}, both on the host or both on the GPU; no autograd (caches, state hand-over).
     */
    public static void copyBytes(Tensor src, long srcOffset, Tensor dst, long dstOffset, long bytes) {
        if (src.device != dst.device) {
            throw new IllegalArgumentException("copyBytes between " + src.device + " and " + dst.device);
        }
        if (src.storage instanceof Storage.Gpu gs && dst.storage instanceof Storage.Gpu gd) {
            ai.kestrel.kernels.cuda.Cuda.get().copy2d(gs.buf(), srcOffset, bytes, gd.buf(), dstOffset, bytes, bytes, 1);
        } else {
            MemorySegment.copy(src.segment(), srcOffset, dst.segment(), dstOffset, bytes);
        }
    }

    /**
     * Forgets the accumulated gradient; its memory stays with the scope that owns this tensor until that scope
     * closes, and the next backward allocates a new one there. In a training loop over parameters of a long-lived
     * scope call {@link #zeroGrad()} instead: clearing every step grows that scope by one gradient per step.
     */
    public void clearGrad() {
        this.grad = null;
    }

    /** Sets the accumulated gradient to zero in place, keeping its memory (no allocation per step). */
    public void zeroGrad() {
        if (grad != null && grad.storage instanceof Storage.Gpu g) {
            ai.kestrel.kernels.cuda.Cuda.get().fill(g.buf(), 0, g.buf().bytes());
        } else if (grad != null) {
            grad.segment().fill((byte) 0);
        }
    }

    /** The name of the op that produced this tensor, or {@code null} for a leaf. */
    public String gradFnName() {
        return node == null ? null : node.name();
    }

    /** The same storage without autograd history. */
    public Tensor detach() {
        return new Tensor(shape, dtype, device, storage, scope);
    }

    // ---- data -----------------------------------------------------------------------------------------

    /** A heap copy of the values as float (F32, F64 and BF16/F16 only). */
    public float[] toFloatArray() {
        int n = Math.toIntExact(numel());
        float[] out = new float[n];
        MemorySegment s = readable();
        for (int i = 0; i < n; i++) {
            out[i] = (float) getDouble(s, i);
        }
        return out;
    }

    /** A heap copy of the values as double (F32, F64 and BF16/F16 only). */
    public double[] toDoubleArray() {
        int n = Math.toIntExact(numel());
        double[] out = new double[n];
        MemorySegment s = readable();
        for (int i = 0; i < n; i++) {
            out[i] = getDouble(s, i);
        }
        return out;
    }

    /** A heap copy of an integer tensor (I32, I64). */
    public int[] toIntArray() {
        int n = Math.toIntExact(numel());
        int[] out = new int[n];
        MemorySegment s = readable();
        for (int i = 0; i < n; i++) {
            out[i] = switch (dtype) {
                case I32 -> s.getAtIndex(ValueLayout.JAVA_INT_UNALIGNED, i);
                case I64 -> Math.toIntExact(s.getAtIndex(ValueLayout.JAVA_LONG_UNALIGNED, i));
                default -> throw new IllegalStateException("toIntArray on a " + dtype + " tensor");
            };
        }
        return out;
    }

    /** Element {@code i} (flat index) as a double. */
    public double getDouble(long i) {
        Objects.checkIndex(i, numel());
        return getDouble(readable(), i);
    }

    /** The single value of a one-element tensor. */
    public double item() {
        if (numel() != 1) {
            throw new IllegalStateException("item() on a tensor of shape " + Arrays.toString(shape));
        }
        return getDouble(0);
    }

    /** Stores {@code v} at flat index {@code i} (F32/F64). No autograd. */
    public void setDouble(long i, double v) {
        Objects.checkIndex(i, numel());
        buf().set(i, v);
    }

    private double getDouble(MemorySegment s, long i) {
        return switch (dtype) {
            case F32 -> s.getAtIndex(Buf.F32, i);
            case F64 -> s.getAtIndex(Buf.F64, i);
            case BF16 -> ai.kestrel.kernels.Half.bf16ToFloat(s.getAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, i));
            case F16 -> ai.kestrel.kernels.Half.f16ToFloat(s.getAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, i));
            case I32 -> s.getAtIndex(ValueLayout.JAVA_INT_UNALIGNED, i);
            case I64 -> s.getAtIndex(ValueLayout.JAVA_LONG_UNALIGNED, i);
            case I8 -> s.get(ValueLayout.JAVA_BYTE, i);
            case U8 -> s.get(ValueLayout.JAVA_BYTE, i) & 0xff;
            case Q8_0, NF4 -> throw new IllegalStateException("element access on a " + dtype + " tensor: dequantize it first");
        };
    }

    @Override
    public String toString() {
        return "Tensor" + Arrays.toString(shape) + " " + dtype + (requiresGrad ? " requiresGrad" : "")
                + (node != null ? " <" + node.name() + ">" : "") + " " + preview();
    }

    /** Values shown by {@link #toString}, in flat order. */
    private static final int PREVIEW = 8;

    /**
     * The first {@link #PREVIEW} values of a host tensor (what jshell shows of a result), or why there are none: on
     * the GPU (reading would copy), quantized, or freed.
     */
    private String preview() {
        if (!(storage instanceof Storage.Host h)) {
            return "(on " + device + ")";
        }
        if (dtype == DType.Q8_0 || dtype == DType.NF4) {
            return "(quantized)";
        }
        MemorySegment s = h.segment();
        if (!s.scope().isAlive()) {
            return "(freed)";
        }
        long n = numel();
        StringBuilder sb = new StringBuilder("[");
        for (int i = 0; i < Math.min(n, PREVIEW); i++) {
            double v = getDouble(s, i);
            sb.append(i > 0 ? ", " : "").append(switch (dtype) {
                case F64 -> Double.toString(v);
                case F32, BF16, F16 -> Float.toString((float) v);
                default -> Long.toString((long) v);
            });
        }
        return sb.append(n > PREVIEW ? ", ... " + n + " values]" : "]").toString();
    }
}
