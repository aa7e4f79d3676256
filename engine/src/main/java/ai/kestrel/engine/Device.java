package ai.kestrel.engine;

/** Where a tensor's storage lives. */
public enum Device {
    /** Host memory (off-heap, owned by a {@link Scope}). */
    CPU,
    /** An NVIDIA GPU through JCuda. */
    CUDA
}
