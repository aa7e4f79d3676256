package ai.kestrel.kernels.quant;

import ai.kestrel.kernels.Buf;
import ai.kestrel.kernels.Half;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * A weight matrix {@code W (N, K)} in its stored format: {@code N} rows (output features) of {@code K}
 * elements (input features), row-major, as PyTorch's {@code nn.Linear.weight}. (GGUF lists the same bytes
 * with dims {@code {K, N}}.) {@code data} may be a memory-mapped file region; nothing is copied.
 *
 * <p>{@code roundsInput}: a product first rounds its activation operand {@code x} to this format, as ggml's CPU
 * backend (llama.cpp) does: Q8_0 always ({@link Q8Activations}), F16 and BF16 when asked ({@link HalfRounding}: a
 * model read from a GGUF file computes as llama.cpp does; one read from a Hugging Face folder multiplies float32
 * {@code x}, as transformers does in float32). Other formats never round.
 */
public record Weights(WeightFormat format, int n, int k, MemorySegment data, boolean roundsInput) {
    public Weights {
        if (n < 0 || k < 0) {
            throw new IllegalArgumentException("negative weight shape (" + n + ", " + k + ")");
        }
        if (format == WeightFormat.Q8_0 && !roundsInput) {
            throw new IllegalArgumentException("a Q8_0 product always rounds its input (Q8Activations)");
        }
        if (roundsInput && format != WeightFormat.Q8_0 && !HalfRounding.rounds(format)) {
            throw new IllegalArgumentException(format + " products cannot round their input (Q8_0, F16 and BF16 can)");
        }
        long need = format.rowBytes(k) * n;
        if (data.byteSize() != need) {
            throw new IllegalArgumentException(format + " weights (" + n + ", " + k + ") need " + need + " bytes, segment has " + data.byteSize());
        }
    }

    /** Weights whose products round their input where the format requires it: Q8_0 only. */
    public Weights(WeightFormat format, int n, int k, MemorySegment data) {
        this(format, n, k, data, format == WeightFormat.Q8_0);
    }

    /** These weights with F16 / BF16 input rounding on or off ({@code roundsInput}; Q8_0 always rounds). */
    public Weights roundingInput(boolean on) {
        boolean r = format == WeightFormat.Q8_0 || (on && HalfRounding.rounds(format));
        return r == roundsInput ? this : new Weights(format, n, k, data, r);
    }

    /** Float32 weights over a float buffer of {@code n * k} elements. */
    public static Weights of(Buf w, int n, int k) {
        long need = (long) n * k;
        MemorySegment seg = w.seg().asSlice(0, need * w.elementBytes());
        return new Weights(w.isF64() ? WeightFormat.F64 : WeightFormat.F32, n, k, seg);
    }

    /** Bytes of one stored row. */
    public long rowBytes() {
        return format.rowBytes(k);
    }

    /** Element {@code (row, col)}, dequantized: the reference decode every kernel must agree with. */
    public double get(int row, int col) {
        long base = row * rowBytes();
        return switch (format) {
            case F32 -> data.get(Buf.F32, base + col * 4L);
            case F64 -> data.get(Buf.F64, base + col * 8L);
            case F16 -> Half.f16ToFloat(data.get(ValueLayout.JAVA_SHORT_UNALIGNED, base + col * 2L));
            case BF16 -> Half.bf16ToFloat(data.get(ValueLayout.JAVA_SHORT_UNALIGNED, base + col * 2L));
            case Q8_0 -> {
                long block = base + (long) (col / WeightFormat.Q8_0_BLOCK) * 34;
                float d = Half.f16ToFloat(data.get(ValueLayout.JAVA_SHORT_UNALIGNED, block));
                yield d * data.get(ValueLayout.JAVA_BYTE, block + 2 + col % WeightFormat.Q8_0_BLOCK);
            }
            case NF4 -> {
                long block = base + (long) (col / WeightFormat.NF4_BLOCK) * 36;
                float scale = data.get(Buf.F32, block);
                int b = data.get(ValueLayout.JAVA_BYTE, block + 4 + (col % WeightFormat.NF4_BLOCK) / 2);
                yield Nf4.codeValue(col % 2 == 0 ? (b >> 4) & 0xF : b & 0xF) * scale;
            }
        };
    }

    /** Row {@code row} dequantized to float into {@code out[off, off + k)} (scalar; for references and gathers). */
    public void dequantizeRow(int row, float[] out, int off) {
        for (int c = 0; c < k; c++) {
            out[off + c] = (float) get(row, c);
        }
    }
}
