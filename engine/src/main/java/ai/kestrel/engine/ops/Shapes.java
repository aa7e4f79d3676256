package ai.kestrel.engine.ops;

import ai.kestrel.engine.Autograd;
import ai.kestrel.engine.Tensor;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * Shape changes: reshape (a view), and narrow / split / concat along a dimension (copies, since tensors are
 * always contiguous).
 */
public final class Shapes {
    private Shapes() {
    }

    /** {@code t} seen with another shape; see {@link Tensor#view}. */
    public static Tensor reshape(Tensor t, long... shape) {
        return t.view(shape);
    }

    /** Elements {@code [start, start + len)} of dimension {@code dim} (negative counts from the end). */
    public static Tensor narrow(Tensor t, int dim, long start, long len) {
        int d = dim < 0 ? t.rank() + dim : dim;
        long[] shape = t.shape();
        if (d < 0 || d >= shape.length || start < 0 || len < 0 || start + len > shape[d]) {
            throw new IllegalArgumentException("narrow: [" + start + ", " + (start + len) + ") of dimension " + dim
                    + " is outside shape " + Arrays.toString(shape));
        }
        long[] out = shape.clone();
        out[d] = len;
        Tensor y = Tensor.empty(t.device(), t.dtype(), out);
        copyBlocks(t, d, start, y, 0, len);
        return Autograd.record(y, "narrow", (g, needs) -> {
            Tensor dx = Tensor.zerosLike(t);
            copyBlocks(g, d, 0, dx, start, len);
            return new Tensor[] {dx};
        }, t);
    }

    /** {@code t} cut along {@code dim} into pieces of the given sizes (which must add up to the dimension). */
    public static Tensor[] split(Tensor t, int dim, long... sizes) {
        int d = dim < 0 ? t.rank() + dim : dim;
        long total = Arrays.stream(sizes).sum();
        if (total != t.size(d)) {
            throw new IllegalArgumentException("split: sizes " + Arrays.toString(sizes) + " add up to " + total
                    + ", dimension " + dim + " of " + Arrays.toString(t.shape()) + " is " + t.size(d));
        }
        Tensor[] parts = new Tensor[sizes.length];
        long at = 0;
        for (int i = 0; i < sizes.length; i++) {
            parts[i] = narrow(t, d, at, sizes[i]);
            at += sizes[i];
        }
        return parts;
    }

    /** The tensors joined along {@code dim}; all other dimensions must agree. */
    public static Tensor concat(int dim, Tensor... ts) {
        if (ts.length == 0) {
            throw new IllegalArgumentException("concat: nothing to join");
        }
        int d = dim < 0 ? ts[0].rank() + dim : dim;
        long[] shape = ts[0].shape();
        long total = 0;
        for (Tensor t : ts) {
            long[] s = t.shape();
            if (s.length != shape.length || t.dtype() != ts[0].dtype()) {
                throw new IllegalArgumentException("concat: " + Arrays.toString(s) + " " + t.dtype() + " does not match "
                        + Arrays.toString(shape) + " " + ts[0].dtype());
            }
            for (int i = 0; i < s.length; i++) {
                if (i != d && s[i] != shape[i]) {
                    throw new IllegalArgumentException("concat along " + dim + ": shapes " + Arrays.toString(s) + " and " + Arrays.toString(shape) + " differ elsewhere");
                }
            }
            total += s[d];
        }
        long[] out = shape.clone();
        out[d] = total;
        for (Tensor t : ts) {
            if (t.device() != ts[0].device()) {
                throw new IllegalArgumentException("concat: tensors on " + ts[0].device() + " and " + t.device() + " (move them with Tensor.to)");
            }
        }
        Tensor y = Tensor.empty(ts[0].device(), ts[0].dtype(), out);
        long at = 0;
        long[] starts = new long[ts.length];
        for (int i = 0; i < ts.length; i++) {
            starts[i] = at;
            copyBlocks(ts[i], d, 0, y, at, ts[i].size(d));
            at += ts[i].size(d);
        }
        return Autograd.record(y, "concat", (g, needs) -> {
            Tensor[] grads = new Tensor[ts.length];
            for (int i = 0; i < ts.length; i++) {
                if (needs[i]) {
                    grads[i] = Tensor.zerosLike(ts[i]);
                    copyBlocks(g, d, starts[i], grads[i], 0, ts[i].size(d));
                }
            }
            return grads;
        }, ts);
    }

    /**
     * Copies {@code len} slices of dimension {@code d}: {@code src[..., srcStart + j, ...]} to
     * {@code dst[..., dstStart + j, ...]} for {@code j < len}, every other dimension equal.
     */
    static void copyBlocks(Tensor src, int d, long srcStart, Tensor dst, long dstStart, long len) {
        long[] ss = src.shape();
        long[] ds = dst.shape();
        long outer = 1;
        for (int i = 0; i < d; i++) {
            outer *= ss[i];
        }
        long inner = 1;
        for (int i = d + 1; i < ss.length; i++) {
            inner *= ss[i];
        }
        var dt = src.dtype();
        long innerBytes = dt.bytes(inner);
        long srcRow = ss[d] * innerBytes;
        long dstRow = ds[d] * innerBytes;
        long bytes = len * innerBytes;
        if (src.device() != dst.device()) {
            throw new IllegalArgumentException("copying slices between " + src.device() + " and " + dst.device());
        }
        if (src.storage() instanceof ai.kestrel.engine.Storage.Gpu gs && dst.storage() instanceof ai.kestrel.engine.Storage.Gpu gd) {
            ai.kestrel.kernels.cuda.Cuda.get().copy2d(gs.buf(), srcStart * innerBytes, srcRow, gd.buf(), dstStart * innerBytes, dstRow, bytes, outer);
            return;
        }
        MemorySegment s = src.segment();
        MemorySegment t = dst.segment();
        for (long o = 0; o < outer; o++) {
            MemorySegment.copy(s, o * srcRow + srcStart * innerBytes, t, o * dstRow + dstStart * innerBytes, bytes);
        }
    }
}
