package ai.kestrel.engine.ops;

import ai.kestrel.engine.DType;
import ai.kestrel.engine.Device;
import ai.kestrel.engine.Tensor;
import java.util.Arrays;

/**
 * Picks the kernel implementation for an op's operands: reference for F64, Vector API for F32 on the host, the
 * CUDA kernels for F32 on the GPU (all operands on one device).
 */
final class Dispatch {
    private Dispatch() {
    }

    /**
     * Checks that every non-null operand is an F32 or F64 host tensor and that they agree; returns the dtype.
     * {@code op} names the op in errors.
     */
    static DType computeType(String op, Tensor... ts) {
        DType dt = null;
        Device dev = null;
        for (Tensor t : ts) {
            if (t == null) {
                continue;
            }
            if (dev == null) {
                dev = t.device();
            } else if (dev != t.device()) {
                throw new IllegalArgumentException(op + ": operands on " + dev + " and " + t.device() + " (move them with Tensor.to)");
            }
            if (t.device() == Device.CUDA && t.dtype() != DType.F32) {
                throw new IllegalArgumentException(op + ": GPU operands must be F32, got " + t.dtype());
            }
            if (!t.dtype().isCompute()) {
                throw new IllegalArgumentException(op + ": operands must be F32 or F64, got " + t.dtype());
            }
            if (dt == null) {
                dt = t.dtype();
            } else if (dt != t.dtype()) {
                throw new IllegalArgumentException(op + ": mixed dtypes " + dt + " and " + t.dtype());
            }
        }
        if (dt == null) {
            throw new IllegalArgumentException(op + ": no operands");
        }
        return dt;
    }

    /** {@code ref} for F64 operands, {@code cpu} for F32 (after {@link #computeType} checks); host operands only. */
    static <K> K pick(K ref, K cpu, String op, Tensor... ts) {
        DType dt = computeType(op, ts);
        if (onGpu(ts)) {
            throw new UnsupportedOperationException(op + ": no CUDA kernel for this op yet; move its operands to the CPU");
        }
        return dt == DType.F64 ? ref : cpu;
    }

    /** {@code ref} for F64 operands, {@code cpu} for F32 host operands, {@code cuda} for GPU operands. */
    static <K> K pick(K ref, K cpu, java.util.function.Supplier<K> cuda, String op, Tensor... ts) {
        DType dt = computeType(op, ts);
        if (onGpu(ts)) {
            return cuda.get();
        }
        return dt == DType.F64 ? ref : cpu;
    }

    /** True when the first non-null operand is on the GPU ({@link #computeType} has checked they agree). */
    static boolean onGpu(Tensor... ts) {
        for (Tensor t : ts) {
            if (t != null) {
                return t.device() == Device.CUDA;
            }
        }
        return false;
    }

    /** Throws unless {@code t}'s last dimension is {@code d}. */
    static void lastDim(String op, String what, Tensor t, long d) {
        if (t.rank() == 0 || t.size(-1) != d) {
            throw new IllegalArgumentException(op + ": " + what + " must end in a dimension of " + d + ", shape is " + Arrays.toString(t.shape()));
        }
    }

    /** Throws unless {@code t} has exactly {@code shape}. */
    static void shape(String op, String what, Tensor t, long... shape) {
        if (!Arrays.equals(t.shape(), shape)) {
            throw new IllegalArgumentException(op + ": " + what + " must have shape " + Arrays.toString(shape) + ", got " + Arrays.toString(t.shape()));
        }
    }

    /** All dimensions but the last, multiplied: the row count of a (rows, D) view. */
    static int rows(Tensor t) {
        return Math.toIntExact(t.numel() / Math.max(1, t.size(-1)));
    }

    /** {@code t.buf()}, or {@code null} for an absent optional operand. */
    static ai.kestrel.kernels.Buf buf(Tensor t) {
        return t == null ? null : t.buf();
    }
}
