package ai.kestrel.kernels;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Objects;

/**
 * A flat buffer of float32 or float64 elements over a memory segment: what kernels read and write. A buffer of
 * IEEE binary16 elements ({@link #f16}) holds what is stored in half precision to save memory, such as a KV cache;
 * only the kernels that say so read it.
 *
 * <p>{@link #get} and {@link #set} work in double whatever the element type; they are for reference kernels
 * and tests. Fast kernels take {@link #seg()} and require {@link #isF32()}. Little-endian, as every file
 * format Kestrel reads.
 *
 * <p>A buffer can also stand for float32 elements in GPU memory ({@link #onDevice}): then {@link #seg()},
 * {@link #get} and {@link #set} throw, and only the CUDA kernels ({@code ai.kestrel.kernels.cuda}) take it, using
 * the device memory in place.
 */
public final class Buf {
    /** float32 elements, little-endian, alignment 4 (segments Kestrel allocates are 64-byte aligned). */
    public static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(java.nio.ByteOrder.LITTLE_ENDIAN);
    /** float64 elements, little-endian. */
    public static final ValueLayout.OfDouble F64 = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(java.nio.ByteOrder.LITTLE_ENDIAN);
    /** binary16 bits, little-endian. */
    public static final ValueLayout.OfShort F16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(java.nio.ByteOrder.LITTLE_ENDIAN);

    private final MemorySegment seg;
    /** Bytes per element: 2 (binary16), 4 (float32) or 8 (float64). */
    private final int width;
    private final long length;
    private final ai.kestrel.kernels.cuda.DevBuf device;

    private Buf(ai.kestrel.kernels.cuda.DevBuf device, long length) {
        this.seg = null;
        this.width = 4;
        this.length = length;
        this.device = device;
    }

    /**
     * {@code n} float32 elements at the start of device memory {@code d} (which must hold them): what an engine
     * tensor on the GPU hands to the kernels.
     */
    public static Buf onDevice(ai.kestrel.kernels.cuda.DevBuf d, long n) {
        Objects.requireNonNull(d, "d");
        if (n < 0 || n * 4 > d.bytes()) {
            throw new IllegalArgumentException(n + " float32 elements do not fit a device buffer of " + d.bytes() + " bytes");
        }
        return new Buf(d, n);
    }

    /** True when the elements live in GPU memory. */
    public boolean isDevice() {
        return device != null;
    }

    /** The device memory behind an {@link #onDevice} buffer. */
    public ai.kestrel.kernels.cuda.DevBuf devBuf() {
        if (device == null) {
            throw new IllegalStateException("a host buffer has no device memory");
        }
        return device;
    }

    private Buf(MemorySegment seg, int width) {
        this.seg = Objects.requireNonNull(seg, "seg");
        this.width = width;
        this.device = null;
        long bytes = seg.byteSize();
        if (bytes % width != 0) {
            throw new IllegalArgumentException("segment of " + bytes + " bytes is not a whole number of " + typeName(width) + " elements");
        }
        this.length = bytes / width;
    }

    private static String typeName(int width) {
        return width == 8 ? "f64" : width == 4 ? "f32" : "f16";
    }

    /** A view of {@code seg} as float32 elements. */
    public static Buf f32(MemorySegment seg) {
        return new Buf(seg, 4);
    }

    /** A view of {@code seg} as float64 elements. */
    public static Buf f64(MemorySegment seg) {
        return new Buf(seg, 8);
    }

    /** A view of {@code seg} as IEEE binary16 elements. */
    public static Buf f16(MemorySegment seg) {
        return new Buf(seg, 2);
    }

    /** A new zeroed float32 buffer of {@code n} elements in {@code arena}, 64-byte aligned. */
    public static Buf allocF32(Arena arena, long n) {
        return f32(arena.allocate(n * 4, 64));
    }

    /** A new zeroed float64 buffer of {@code n} elements in {@code arena}, 64-byte aligned. */
    public static Buf allocF64(Arena arena, long n) {
        return f64(arena.allocate(n * 8, 64));
    }

    /** A new float32 buffer in {@code arena} holding a copy of {@code values}. */
    public static Buf ofF32(Arena arena, float... values) {
        Buf b = allocF32(arena, values.length);
        MemorySegment.copy(values, 0, b.seg, F32, 0, values.length);
        return b;
    }

    /** A new float64 buffer in {@code arena} holding a copy of {@code values}. */
    public static Buf ofF64(Arena arena, double... values) {
        Buf b = allocF64(arena, values.length);
        MemorySegment.copy(values, 0, b.seg, F64, 0, values.length);
        return b;
    }

    /** A new buffer of the same element type and length as this one, zeroed. */
    public Buf like(Arena arena) {
        return switch (width) {
            case 8 -> allocF64(arena, length);
            case 4 -> allocF32(arena, length);
            default -> f16(arena.allocate(length * 2, 64));
        };
    }

    /** The backing segment (host buffers only). */
    public MemorySegment seg() {
        hostOnly();
        return seg;
    }

    /** Number of elements. */
    public long length() {
        return length;
    }

    public boolean isF64() {
        return width == 8;
    }

    public boolean isF32() {
        return width == 4;
    }

    /** True for binary16 elements ({@link #f16}). */
    public boolean isF16() {
        return width == 2;
    }

    /** Bytes per element: 2, 4 or 8. */
    public int elementBytes() {
        return width;
    }

    private void hostOnly() {
        if (device != null) {
            throw new IllegalStateException("this buffer is in GPU memory; copy it to the host first");
        }
    }

    /** Element {@code i} as a double. */
    public double get(long i) {
        hostOnly();
        return switch (width) {
            case 8 -> seg.getAtIndex(F64, i);
            case 4 -> seg.getAtIndex(F32, i);
            default -> Float.float16ToFloat(seg.getAtIndex(F16, i));
        };
    }

    /**
     * Stores {@code v} at {@code i}, rounded to float when this is a float32 buffer (to float, then to nearest even
     * binary16, when a binary16 one).
     */
    public void set(long i, double v) {
        hostOnly();
        switch (width) {
            case 8 -> seg.setAtIndex(F64, i, v);
            case 4 -> seg.setAtIndex(F32, i, (float) v);
            default -> seg.setAtIndex(F16, i, Float.floatToFloat16((float) v));
        }
    }

    /** {@code this[i] += v}. */
    public void add(long i, double v) {
        set(i, get(i) + v);
    }

    /** Elements {@code [off, off + len)} as a buffer sharing this memory. */
    public Buf slice(long off, long len) {
        int w = elementBytes();
        if (device != null) {
            return new Buf(device.view(off * w, len * w), len);
        }
        return new Buf(seg.asSlice(off * w, len * w), w);
    }

    /** Sets every element to {@code v}. */
    public void fill(double v) {
        for (long i = 0; i < length; i++) {
            set(i, v);
        }
    }

    /** A heap copy as float[] (for tests and small results). */
    public float[] toFloatArray() {
        float[] out = new float[Math.toIntExact(length)];
        for (int i = 0; i < out.length; i++) {
            out[i] = (float) get(i);
        }
        return out;
    }

    /** A heap copy as double[] (for tests and small results). */
    public double[] toDoubleArray() {
        double[] out = new double[Math.toIntExact(length)];
        for (int i = 0; i < out.length; i++) {
            out[i] = get(i);
        }
        return out;
    }

    /** Throws unless this is a float32 buffer of at least {@code n} elements; {@code what} names it in the message. */
    public Buf requireF32(String what, long n) {
        if (width != 4) {
            throw new IllegalArgumentException(what + ": the fast kernel takes float32, got " + (width == 8 ? "float64" : "float16"));
        }
        return require(what, n);
    }

    /** Throws unless this buffer holds at least {@code n} elements; {@code what} names it in the message. */
    public Buf require(String what, long n) {
        if (length < n) {
            throw new IllegalArgumentException(what + ": needs " + n + " elements, buffer has " + length);
        }
        return this;
    }

    @Override
    public String toString() {
        return "Buf[" + typeName(width) + " x " + length + (device != null ? " on the GPU" : "") + "]";
    }
}
