package ai.kestrel.engine;

import java.lang.foreign.MemorySegment;

/** The memory behind a tensor: host memory today, device memory once the CUDA backend lands. */
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
}
