package ai.kestrel.kernels.cuda;

import ai.kestrel.kernels.Buf;
import ai.kestrel.kernels.loss.CrossEntropy;
import java.lang.foreign.MemorySegment;

/**
 * {@link CrossEntropy} on the GPU ({@code loss.cu}): one block per row with the log-softmax fused (block max, then
 * block sum of {@code exp(x - max)} in float); the backward one block per row writing
 * {@code scale * (exp(x - lse) - onehot)}. Shapes: {@code logits, dlogits (rows, v)} float32, {@code labels (rows)}
 * int32 ({@link CrossEntropy#IGNORE} for ignored rows), {@code loss, lse (rows)} float32.
 */
public final class CrossEntropyCuda implements CrossEntropy {
    private static int threads(int v) {
        return Math.min(1024, Math.max(32, (v / 4 + 31) & ~31));
    }

    private static Buf f32(Buf b, String what, long n) {
        return b.requireF32(what, n).slice(0, n);
    }

    /** The first {@code rows} labels, each checked; the number not ignored. */
    private static int checkLabels(MemorySegment labels, int rows, int v) {
        int count = 0;
        for (int r = 0; r < rows; r++) {
            if (CrossEntropy.label(labels, r, v) != IGNORE) {
                count++;
            }
        }
        return count;
    }

    // ---- device buffers

    /**
     * Per row: {@code lse = logsumexp(logits)}, {@code loss = lse - logits[label]} or 0 for ignored rows. Labels are
     * not checked here (a label outside {@code [0, v)} other than {@link CrossEntropy#IGNORE} gives a NaN loss).
     */
    public static void forward(Cuda c, DevBuf logits, DevBuf labels, int rows, int v, DevBuf loss, DevBuf lse) {
        c.launch("ce_forward", rows, threads(v), 0, logits, labels, loss, lse, v);
    }

    /** {@code dlogits = scale * (softmax(logits) - onehot(label))}, 0 for ignored rows; {@code dlogits} may be {@code logits}. */
    public static void backward(Cuda c, DevBuf logits, DevBuf labels, DevBuf lse, float scale, DevBuf dlogits, int rows, int v) {
        c.launch("ce_backward", rows, threads(v), 0, logits, labels, lse, scale, dlogits, v);
    }

    // ---- host buffers, staged

    @Override
    public int forward(Buf logits, MemorySegment labels, int rows, int v, Buf loss, Buf lse) {
        int count = checkLabels(labels, rows, v);
        long n = (long) rows * v;
        try (Staging s = new Staging(Cuda.get())) {
            forward(s.cuda(), s.in(f32(logits, "logits", n)), s.in(labels.asSlice(0, rows * 4L)), rows, v,
                    s.out(f32(loss, "loss", rows)), s.out(f32(lse, "lse", rows)));
        }
        return count;
    }

    @Override
    public void backward(Buf logits, MemorySegment labels, Buf lse, double scale, Buf dlogits, int rows, int v) {
        checkLabels(labels, rows, v);
        long n = (long) rows * v;
        try (Staging s = new Staging(Cuda.get())) {
            backward(s.cuda(), s.in(f32(logits, "logits", n)), s.in(labels.asSlice(0, rows * 4L)),
                    s.in(f32(lse, "lse", rows)), (float) scale, s.out(f32(dlogits, "dlogits", n)), rows, v);
        }
    }
}
