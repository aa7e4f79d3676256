package ai.kestrel.kernels.cuda;

import ai.kestrel.kernels.Buf;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

/**
 * Host buffers staged through device memory for one call of a kernel interface: {@link #in} uploads, {@link #out}
 * allocates and downloads on {@link #close}, {@link #inOut} does both. A buffer already in GPU memory
 * ({@link Buf#onDevice}) is used in place: no copy either way. This is how the {@code *Cuda} classes
 * implement the host-buffer kernel interfaces (the twin tests' entry point); the engine keeps its tensors on the
 * device and calls the device-pointer methods directly.
 */
public final class Staging implements AutoCloseable {
    private final Cuda cuda;
    private final List<DevBuf> owned = new ArrayList<>();
    private final List<Object[]> downloads = new ArrayList<>();

    public Staging(Cuda cuda) {
        this.cuda = cuda;
    }

    /** The device. */
    public Cuda cuda() {
        return cuda;
    }

    private static MemorySegment f32(Buf b, String what) {
        if (!b.isF32()) {
            throw new IllegalArgumentException("CUDA kernels take float32 buffers; " + what + " is float64");
        }
        return b.seg();
    }

    /** {@code b} copied to the device, or {@code null} for {@code null}. */
    public DevBuf in(Buf b) {
        if (b == null) {
            return null;
        }
        if (b.isDevice()) {
            return b.devBuf();
        }
        DevBuf d = cuda.copyOf(f32(b, "an input"));
        owned.add(d);
        return d;
    }

    /** Raw bytes (quantized weights, token ids) copied to the device. */
    public DevBuf in(MemorySegment bytes) {
        DevBuf d = cuda.copyOf(bytes);
        owned.add(d);
        return d;
    }

    /** Device memory for an output that is copied back into {@code b} on close, or {@code null} for {@code null}. */
    public DevBuf out(Buf b) {
        if (b == null) {
            return null;
        }
        if (b.isDevice()) {
            return b.devBuf();
        }
        DevBuf d = cuda.alloc(f32(b, "an output").byteSize());
        owned.add(d);
        downloads.add(new Object[] {d, b.seg()});
        return d;
    }

    /** {@code b} copied to the device and copied back on close (outputs that accumulate, or aliased in/out). */
    public DevBuf inOut(Buf b) {
        if (b == null) {
            return null;
        }
        if (b.isDevice()) {
            return b.devBuf();
        }
        DevBuf d = in(b);
        downloads.add(new Object[] {d, b.seg()});
        return d;
    }

    /** Device scratch of {@code bytes}, zeroed, freed on close. */
    public DevBuf scratch(long bytes) {
        DevBuf d = cuda.allocZeroed(bytes);
        owned.add(d);
        return d;
    }

    @Override
    public void close() {
        try {
            for (Object[] dl : downloads) {
                cuda.download((DevBuf) dl[0], (MemorySegment) dl[1]);
            }
        } finally {
            for (DevBuf d : owned) {
                d.close();
            }
        }
    }
}
