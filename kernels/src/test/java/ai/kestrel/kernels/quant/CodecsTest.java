package ai.kestrel.kernels.quant;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import ai.kestrel.kernels.Half;
import ai.kestrel.kernels.Twin;
import java.lang.foreign.Arena;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class CodecsTest {
    @Test
    void everyFormatRoundTripsWithinItsPrecision() {
        SplittableRandom rnd = new SplittableRandom(5);
        int n = 3;
        int k = 64;
        float[] src = Twin.normal(rnd, n * k, 2.0);
        try (Arena arena = Arena.ofConfined()) {
            for (WeightFormat f : WeightFormat.values()) {
                Weights w = Codecs.encode(arena, src, n, k, f);
                for (int r = 0; r < n; r++) {
                    float amax = 0;
                    for (int c = 0; c < k; c++) {
                        amax = Math.max(amax, Math.abs(src[r * k + c]));
                    }
                    for (int c = 0; c < k; c++) {
                        double x = src[r * k + c];
                        double tol = switch (f) {
                            case F32, F64 -> 0;
                            case F16 -> Math.abs(x) * 0x1p-11 + 1e-7;
                            case BF16 -> Math.abs(x) * 0x1p-8;
                            case Q8_0 -> amax / 127.0 * 0.5 * 1.01 + amax * 0x1p-11;
                            // half the widest NF4 gap (-1 to -0.696), plus the double-quantized scale's error
                            case NF4 -> amax * 0.153 + amax * 0.008;
                        };
                        assertEquals(x, w.get(r, c), tol, f + " at (" + r + "," + c + ")");
                    }
                }
            }
        }
    }

    @Test
    void q8_0BlockLayoutIsGgmls() {
        // one block: x_j = j - 16 (amax 16): d = 16/127, q_j = round((j - 16) * 127 / 16)
        float[] src = new float[32];
        for (int j = 0; j < 32; j++) {
            src[j] = j - 16;
        }
        try (Arena arena = Arena.ofConfined()) {
            Weights w = Codecs.encode(arena, src, 1, 32, WeightFormat.Q8_0);
            assertEquals(34, w.data().byteSize());
            assertEquals(Half.roundF16(16f / 127f), Half.f16ToFloat(w.data().get(java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED, 0)));
            assertEquals(-127, w.data().get(java.lang.foreign.ValueLayout.JAVA_BYTE, 2));
            assertEquals(0, w.data().get(java.lang.foreign.ValueLayout.JAVA_BYTE, 2 + 16));
            assertEquals(Math.round(15 * 127 / 16f), w.data().get(java.lang.foreign.ValueLayout.JAVA_BYTE, 2 + 31));
        }
    }

    @Test
    void bf16RoundsToNearestEven() {
        // 1 + 2^-8 lies exactly between two bf16 values (1 and 1 + 2^-7): ties go to the even one, 1
        assertEquals(1f, Half.roundBf16(1f + 0x1p-8f));
        assertEquals(1f + 0x1p-6f, Half.roundBf16(1f + 0x1p-7f + 0x1p-8f));
        assertEquals(Float.NaN, Half.roundBf16(Float.NaN));
    }

    @Test
    void q8_0RowsMustBeWholeBlocks() {
        try (Arena arena = Arena.ofConfined()) {
            assertThrows(IllegalArgumentException.class, () -> Codecs.encode(arena, new float[40], 1, 40, WeightFormat.Q8_0));
        }
    }
}
