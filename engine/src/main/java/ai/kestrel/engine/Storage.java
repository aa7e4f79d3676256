package ai.kestrel.engine;

import java.lang.foreign.MemorySegment;

/** The memory behind a tensor: host memory, or GPU memory on the CUDA backend. */
public sealed interface Storage {
    /** Bytes held. */
    long byteSize();

    /** Host memory: a memory segment (off-heap, or a memory-mapped file region). */
    record Host(MemorySegment segment) implements Storage {
        @Override
        public long byteSize() {
            return segment.byteSize();
        }
    }

    /** GPU memory from the CUDA device's caching allocator, returned to it when the owning scope closes. */
    record Gpu(ai.kestrel.kernels.cuda.DevBuf buf) implements Storage {
        @Override
        public long byteSize() {
            return buf.bytes();
        }
    }
}
