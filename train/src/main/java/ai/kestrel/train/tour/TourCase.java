package ai.kestrel.train.tour;

/**
 * One row of the kernel tour: a kernel at one shape, its reference and fast implementations as runnables
 * over prepared buffers, and the work one call does (for GFLOP/s and GB/s).
 *
 * @param kernel the kernel's name, e.g. {@code "rmsNorm fwd"}
 * @param shape  the shape in the glossary's letters, e.g. {@code "rows=512 D=1280"}
 * @param flops  floating-point operations per call (0 when not meaningful)
 * @param bytes  bytes that must move per call (0 when not meaningful)
 * @param refScale how many calls of {@code ref} make one call's work: a reference too slow to run at full size
 *               runs a slice (one row of many, say) and its time is scaled up (printed with a {@code ~})
 */
public record TourCase(String kernel, String shape, double flops, double bytes, Runnable ref, Runnable cpu, int refScale) {
    public TourCase(String kernel, String shape, double flops, double bytes, Runnable ref, Runnable cpu) {
        this(kernel, shape, flops, bytes, ref, cpu, 1);
    }
}
