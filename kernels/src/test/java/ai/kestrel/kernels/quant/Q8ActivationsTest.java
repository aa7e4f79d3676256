package ai.kestrel.kernels.quant;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class Q8ActivationsTest {
    /** Random blocks of very different magnitudes, one all zero, one with ties at .5 (127 as the largest value). */
    private static float[] blocks(SplittableRandom rnd, int k) {
        float[] x = new float[k];
        for (int b = 0; b < k / 32; b++) {
            double scale = Math.pow(10, rnd.nextDouble(-30, 6));
            for (int j = 0; j < 32; j++) {
                x[b * 32 + j] = (float) (rnd.nextGaussian() * scale);
            }
        }
        if (k >= 96) {
            java.util.Arrays.fill(x, 32, 64, 0f);
            for (int j = 0; j < 32; j++) {
                x[64 + j] = j == 0 ? 127f : (rnd.nextInt(254) - 127) + 0.5f; // x * 127 / 127 lands on .5
            }
        }
        return x;
    }

    @Test
    void vectorsRoundAsTheReferenceDoesToTheBit() {
        SplittableRandom rnd = new SplittableRandom(41);
        for (int k : new int[] {32, 64, 96, 160, 1280, 4096}) {
            for (int rep = 0; rep < 5; rep++) {
                float[] x = blocks(rnd, k + 32);
                int off = 32 * rnd.nextInt(2); // rows that start past the array's start
                short[] q = new short[k];
                float[] d = new float[k / 32];
                Q8Activations.quantizeRef(x, off, k, q, 0, d, 0);
                short[] qv = new short[k + 3];
                float[] dv = new float[k / 32 + 5];
                Q8Activations.quantize(x, off, k, qv, 3, dv, 5);
                try (Arena arena = Arena.ofConfined()) {
                    MemorySegment seg = arena.allocate(4 * k + 64, 64);
                    long rAt = 64;
                    Q8Activations.round(x, off, k, seg, rAt);
                    float[] rounded = new float[k + 7];
                    Q8Activations.round(x, off, k, rounded, 7);
                    float[] inPlace = x.clone();
                    Q8Activations.round(inPlace, off, k, inPlace, off);
                    for (int i = 0; i < k; i++) {
                        String at = "k " + k + ", rep " + rep + ", element " + i + " (x " + x[off + i] + ")";
                        assertEquals(q[i], qv[3 + i], at + ": q");
                        assertEquals(Float.floatToRawIntBits(d[i / 32]), Float.floatToRawIntBits(dv[5 + i / 32]), at + ": d");
                        float expect = q[i] * d[i / 32];
                        assertEquals(Float.floatToRawIntBits(expect), Float.floatToRawIntBits(rounded[7 + i]), at + ": q * d");
                        assertEquals(Float.floatToRawIntBits(expect), Float.floatToRawIntBits(inPlace[off + i]), at + ": q * d in place");
                        assertEquals(Float.floatToRawIntBits(expect), Float.floatToRawIntBits(seg.get(ValueLayout.JAVA_FLOAT, rAt + 4L * i)),
                                at + ": q * d into memory");
                    }
                }
            }
        }
    }

    @Test
    void knownAnswers() {
        float[] x = new float[96];
        // block 0: largest 127, so d = 1 and q = rint(x): ties to even
        float[] ties = {127f, 2.5f, 3.5f, -2.5f, -3.5f, 0.5f, -0.5f, 1.5f, 126.4f, -127f};
        System.arraycopy(ties, 0, x, 0, ties.length);
        // block 1: largest 1, so d = the half nearest 1/127 and q = rint(127 x)
        x[32] = 1f;
        x[33] = -0.5f; // -63.5 -> -64
        x[34] = 0.25f; // 31.75 -> 32
        // block 2: zero
        short[] q = new short[96];
        float[] d = new float[3];
        Q8Activations.quantizeRef(x, 0, 96, q, 0, d, 0);
        assertEquals(1f, d[0]);
        assertArrayEquals(new short[] {127, 2, 4, -2, -4, 0, 0, 2, 126, -127}, java.util.Arrays.copyOf(q, 10));
        assertEquals(Float.float16ToFloat(Float.floatToFloat16(1f / 127)), d[1]);
        assertEquals(0.007873535f, d[1], "the half nearest 1/127 = 0.0078740...");
        assertEquals(127, q[32]);
        assertEquals(-64, q[33]);
        assertEquals(32, q[34]);
        assertEquals(0f, d[2]);
        float[] r = Q8Activations.round(x, 1, 96);
        assertEquals(127 * d[1], r[32]);
        assertEquals(0f, r[64]);
    }

    @Test
    void aNonFiniteValueMakesItsBlockNonFiniteAndNoOther() {
        float[] x = blocks(new SplittableRandom(3), 128);
        x[40] = Float.NaN;
        x[100] = Float.POSITIVE_INFINITY;
        float[] r = Q8Activations.round(x, 1, 128);
        for (int i = 0; i < 128; i++) {
            int b = i / 32;
            if (b == 1) {
                assertTrue(Float.isNaN(r[i]), "element " + i + " of the NaN's block: " + r[i]);
            } else if (b == 3) {
                assertTrue(!Float.isFinite(r[i]), "element " + i + " of the infinity's block: " + r[i]);
            } else {
                assertTrue(Float.isFinite(r[i]), "element " + i + ": " + r[i]);
            }
        }
    }

    @Test
    void rowsMustBeWholeBlocks() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Q8Activations.round(new float[40], 1, 40));
        assertTrue(e.getMessage().contains("blocks of 32") && e.getMessage().contains("40"), e.getMessage());
    }
}
