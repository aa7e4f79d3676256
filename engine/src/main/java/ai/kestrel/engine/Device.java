package ai.kestrel.engine;

/** Where a tensor's storage lives. */
public enum Device {
    /** Host memory (off-heap, owned by a {@link Scope}). */
    CPU,
    /** An NVIDIA GPU through JCuda. */
    CUDA;

    /**
     * The most bytes of engine memory in use at once on this device since the last {@link #resetPeak()}: for the CPU
     * {@link Scope#peakBytes()}, for CUDA the device allocator's (blocks held for reuse not counted in either).
     */
    public long peakBytes() {
        return this == CPU ? Scope.peakBytes() : ai.kestrel.kernels.cuda.Cuda.get().peakBytes();
    }

    /** Starts {@link #peakBytes()} again from what is in use now. */
    public void resetPeak() {
        if (this == CPU) {
            Scope.resetPeak();
        } else {
            ai.kestrel.kernels.cuda.Cuda.get().resetPeak();
        }
    }
}
