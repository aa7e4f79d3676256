package ai.kestrel.kernels.cuda;

import ai.kestrel.kernels.Buf;
import ai.kestrel.kernels.optim.AdamW;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * {@link AdamW} on the GPU ({@code optim.cu}). The step is one grid-stride pass, one thread per element, with the
 * step's scalars (bias corrections, decay factor) folded in double on the host. The sum of squares accumulates in
 * double: each block sums its share, then one block sums the partials in a fixed order (deterministic).
 */
public final class AdamWCuda implements AdamW {
    private static final int THREADS = 256;
    /** Blocks of the sum of squares' first stage (and so partials of its second): at most this many. */
    private static final int SUMSQ_BLOCKS = 1024;

    private static long grid(long n) {
        return Math.min(Cuda.blocks(n, THREADS), 132L * 32);
    }

    private static Buf f32(Buf b, String what, long n) {
        return b.requireF32(what, n).slice(0, n);
    }

    // ---- device buffers

    /** One AdamW step over {@code n} elements of {@code param}, {@code m}, {@code v} (updated in place), {@code t} 1-based. */
    public static void step(Cuda c, DevBuf param, DevBuf grad, DevBuf m, DevBuf v, long n, double lr, double beta1,
                            double beta2, double eps, double weightDecay, long t) {
        double bc1 = 1 - Math.pow(beta1, t);
        double bc2 = 1 - Math.pow(beta2, t);
        c.launch("adamw_step", grid(n), THREADS, 0, param, grad, m, v, n, (float) beta1, (float) beta2, (float) eps,
                (float) (1 - lr * weightDecay), (float) (lr / bc1), (float) Math.sqrt(bc2));
    }

    /**
     * Adds {@code sum(g^2)} over {@code n} float32 elements to the float64 {@code acc[0]} on the device, without a
     * synchronisation (so the squares of many tensors can be summed before one download).
     */
    public static void sumSquares(Cuda c, DevBuf g, long n, DevBuf acc) {
        int blocks = (int) Math.max(1, Math.min(Cuda.blocks(n, THREADS), SUMSQ_BLOCKS));
        try (DevBuf partial = c.alloc(blocks * 8L)) {
            // the caching allocator may hand this block out again only to later launches on the same stream
            c.launch("adamw_sumsq_partial", blocks, THREADS, 0, g, n, partial);
            c.launch("adamw_sumsq_final", 1, 1024, 0, partial, blocks, acc);
        }
    }

    /** {@code sum(g^2)} over {@code n} float32 elements, in double; waits for the result. */
    public static double sumSquares(Cuda c, DevBuf g, long n) {
        try (DevBuf acc = c.allocZeroed(8); Arena arena = Arena.ofConfined()) {
            sumSquares(c, g, n, acc);
            MemorySegment out = arena.allocate(8, 8);
            c.download(acc, out);
            return out.get(Buf.F64, 0);
        }
    }

    // ---- host buffers, staged

    @Override
    public void step(Buf param, Buf grad, Buf m, Buf v, long n, double lr, double beta1, double beta2, double eps,
                     double weightDecay, long t) {
        try (Staging s = new Staging(Cuda.get())) {
            step(s.cuda(), s.inOut(f32(param, "param", n)), s.in(f32(grad, "grad", n)), s.inOut(f32(m, "m", n)),
                    s.inOut(f32(v, "v", n)), n, lr, beta1, beta2, eps, weightDecay, t);
        }
    }

    @Override
    public double sumSquares(Buf g, long n) {
        try (Staging s = new Staging(Cuda.get())) {
            return sumSquares(s.cuda(), s.in(f32(g, "g", n)), n);
        }
    }
}
