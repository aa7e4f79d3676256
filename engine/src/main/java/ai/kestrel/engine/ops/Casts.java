package ai.kestrel.engine.ops;

import ai.kestrel.engine.Autograd;
import ai.kestrel.engine.DType;
import ai.kestrel.engine.Tensor;
import ai.kestrel.kernels.Buf;
import ai.kestrel.kernels.quant.Codecs;
import ai.kestrel.kernels.quant.Weights;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * Conversions between dtypes. F32 and F64 convert both ways with gradients; F32 encodes to BF16, F16, Q8_0
 * and NF4 (rounding as PyTorch, ggml and bitsandbytes do; NF4 blocks run along the last dimension, which must
 * be a multiple of 64) and those decode back to F32 (or through it to F64), without gradients (weights).
 */
public final class Casts {
    private Casts() {
    }

    /** {@code t} converted to {@code to} (a copy, also when the dtype already matches). */
    public static Tensor to(Tensor t, DType to) {
        DType from = t.dtype();
        if (from.isCompute() && to.isCompute()) {
            Tensor y = Tensor.empty(to, t.shape());
            copy(t.buf(), y.buf(), t.numel());
            return Autograd.record(y, "cast", (g, needs) -> {
                Tensor d = Tensor.zeros(from, t.shape());
                copy(g.buf(), d.buf(), t.numel());
                return new Tensor[] {d};
            }, t);
        }
        if (from == DType.F32 && (to == DType.BF16 || to == DType.F16 || to == DType.Q8_0 || to == DType.NF4)) {
            if (t.requiresGrad() && Autograd.isEnabled()) {
                throw new IllegalArgumentException("cast to " + to + " is not differentiable; detach the tensor or use noGrad");
            }
            long[] s = t.shape();
            int k = t.rank() == 0 ? 1 : t.dim(-1);
            int rows = Math.toIntExact(t.numel() / Math.max(1, k));
            try (Arena tmp = Arena.ofConfined()) {
                Weights w = Codecs.encode(tmp, t.toFloatArray(), rows, k, Linalg.format(to));
                Tensor y = Tensor.empty(to, s);
                MemorySegment.copy(w.data(), 0, y.segment(), 0, w.data().byteSize());
                return y;
            }
        }
        if ((from == DType.BF16 || from == DType.F16 || from == DType.Q8_0 || from == DType.NF4) && to == DType.F32) {
            int k = t.dim(-1);
            int rows = Math.toIntExact(t.numel() / k);
            Weights w = new Weights(Linalg.format(from), rows, k, t.segment());
            Tensor y = Tensor.empty(DType.F32, t.shape());
            float[] row = new float[k];
            for (int r = 0; r < rows; r++) {
                w.dequantizeRow(r, row, 0);
                MemorySegment.copy(row, 0, y.segment(), Buf.F32, (long) r * k * 4, k);
            }
            return y;
        }
        if ((from == DType.BF16 || from == DType.F16 || from == DType.Q8_0 || from == DType.NF4) && to == DType.F64) {
            return to(to(t, DType.F32), DType.F64);
        }
        throw new IllegalArgumentException("no conversion from " + from + " to " + to);
    }

    /**
     * Copies {@code n} elements of {@code src} from element {@code srcIndex} into {@code dst} from {@code dstIndex},
     * converting F32 to F16 (to nearest even) or F16 to F32 where the dtypes differ; no autograd (caches). Same
     * dtypes copy bytes, on the host or the GPU; conversions run on the host.
     */
    public static void copyElements(Tensor src, long srcIndex, Tensor dst, long dstIndex, long n) {
        DType from = src.dtype();
        DType to = dst.dtype();
        if (srcIndex < 0 || dstIndex < 0 || n < 0 || srcIndex + n > src.numel() || dstIndex + n > dst.numel()) {
            throw new IndexOutOfBoundsException("copy of " + n + " elements from " + srcIndex + " of " + src.numel() + " to " + dstIndex
                    + " of " + dst.numel());
        }
        if (from == to && from.blockSize() == 1) {
            long w = from.blockBytes();
            Tensor.copyBytes(src, srcIndex * w, dst, dstIndex * w, n * w);
            return;
        }
        if (src.device() != ai.kestrel.engine.Device.CPU || dst.device() != ai.kestrel.engine.Device.CPU) {
            throw new UnsupportedOperationException("copying " + from + " into " + to + " converts on the host; these tensors are on "
                    + src.device() + " and " + dst.device());
        }
        if (from == DType.F32 && to == DType.F16) {
            ai.kestrel.kernels.Half.narrow(src.segment(), srcIndex, dst.segment(), dstIndex, n);
        } else if (from == DType.F16 && to == DType.F32) {
            ai.kestrel.kernels.Half.widen(src.segment(), srcIndex, dst.segment(), dstIndex, n);
        } else {
            throw new IllegalArgumentException("no element copy from " + from + " to " + to + " (F32 and F16 convert; otherwise the dtypes must match)");
        }
    }

    private static void copy(Buf src, Buf dst, long n) {
        for (long i = 0; i < n; i++) {
            dst.set(i, src.get(i));
        }
    }
}
