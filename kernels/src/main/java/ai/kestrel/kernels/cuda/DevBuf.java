package ai.kestrel.kernels.cuda;

import java.lang.ref.Cleaner;
import jcuda.driver.CUdeviceptr;

/**
 * A block of device memory from {@link Cuda#alloc}. Closing it returns the block to the allocator's cache (not to
 * the driver); closing twice is an error. A buffer no one will close can instead {@linkplain #freeWhenUnreachable()
 * go back once it is unreachable}.
 */
public final class DevBuf implements AutoCloseable {
    /**
     * Where device memory is: a JCuda device pointer on a GPU, or (CPU emulation, {@link CudaEmu}) the address of
     * native host memory, {@code cu} then null.
     */
    record Ptr(CUdeviceptr cu, long address) {
        Ptr plus(long offset) {
            return cu != null ? new Ptr(cu.withByteOffset(offset), 0) : new Ptr(null, address + offset);
        }
    }

    private static final Cleaner CLEANER = Cleaner.create();

    private final Cuda cuda;
    private final Ptr ptr;
    private final long bytes;
    private final long sizeClass;
    /** For a view, the buffer it views: held so that the memory outlives every view of it. */
    private final DevBuf viewed;
    private Cleaner.Cleanable cleanable;
    private boolean closed;

    DevBuf(Cuda cuda, Ptr ptr, long bytes, long sizeClass) {
        this(cuda, ptr, bytes, sizeClass, null);
    }

    private DevBuf(Cuda cuda, Ptr ptr, long bytes, long sizeClass, DevBuf viewed) {
        this.cuda = cuda;
        this.ptr = ptr;
        this.bytes = bytes;
        this.sizeClass = sizeClass;
        this.viewed = viewed;
    }

    /** Usable bytes (what was asked for). */
    public long bytes() {
        return bytes;
    }

    /** The JCuda device pointer (GPU backend). */
    CUdeviceptr ptr() {
        return handle().cu();
    }

    /** The memory's address (emulation backend). */
    long address() {
        return handle().address();
    }

    Ptr handle() {
        if (closed) {
            throw new IllegalStateException("device buffer used after close");
        }
        return ptr;
    }

    /**
     * A view of {@code bytes} bytes from byte {@code offset} on: shares the memory, is never closed itself, and is
     * valid while this buffer is open.
     */
    public DevBuf view(long offset, long bytes) {
        if (offset < 0 || bytes < 0 || offset + bytes > this.bytes) {
            throw new IndexOutOfBoundsException("view [" + offset + ", " + (offset + bytes) + ") of a device buffer of " + this.bytes + " bytes");
        }
        return new DevBuf(cuda, handle().plus(offset), bytes, -1, this);
    }

    /**
     * Returns this buffer to the allocator's cache once the garbage collector finds it, and every view of it,
     * unreachable (for buffers that no scope closes: tensors made outside any scope); closing it earlier still
     * works. Returns this buffer.
     */
    public DevBuf freeWhenUnreachable() {
        if (sizeClass < 0) {
            throw new IllegalStateException("a view is freed with the buffer it views");
        }
        if (closed || cleanable != null) {
            throw new IllegalStateException("device buffer already closed or already freed when unreachable");
        }
        Cuda c = cuda; // the action must not hold this buffer, or it would never become unreachable
        Ptr p = ptr;
        long cls = sizeClass;
        cleanable = CLEANER.register(this, () -> c.release(p, cls));
        return this;
    }

    @Override
    public void close() {
        if (sizeClass < 0) {
            throw new IllegalStateException("a view is not closed; close the buffer it views");
        }
        if (closed) {
            throw new IllegalStateException("device buffer closed twice");
        }
        closed = true;
        if (cleanable != null) {
            cleanable.clean(); // runs the release once, and never again when this buffer becomes unreachable
        } else {
            cuda.release(ptr, sizeClass);
        }
    }
}
