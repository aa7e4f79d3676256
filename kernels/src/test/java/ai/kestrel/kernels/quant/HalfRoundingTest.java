package ai.kestrel.kernels.quant;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class HalfRoundingTest {
    /**
     * Random values over float's whole range (magnitudes 1e-40 .. 1e38, subnormal floats included), values near
     * float16's limits (2^-24, 2^-14, 65504, 65520), exact ties of both formats, zeros of both signs, infinities and
     * NaNs.
     */
    private static float[] values(SplittableRandom rnd, int n) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            float sign = rnd.nextBoolean() ? 1f : -1f;
            x[i] = switch (rnd.nextInt(8)) {
                case 0 -> sign * (float) Math.pow(10, rnd.nextDouble(-40, 38));
                case 1 -> sign * (float) (rnd.nextDouble(0, 3) * Math.pow(2, -24 + rnd.nextInt(12))); // f16 subnormals
                case 2 -> sign * (65504f + rnd.nextInt(-40, 40)); // around f16's largest value and 65520
                case 3 -> sign * (1 + (2 * rnd.nextInt(1024) + 1) / 2048f) * (float) Math.pow(2, rnd.nextInt(-14, 16)); // f16 ties
                case 4 -> sign * Float.intBitsToFloat((rnd.nextInt(1, 254) << 23) | (rnd.nextInt(1 << 7) << 16) | 0x8000); // bf16 ties
                case 5 -> switch (rnd.nextInt(5)) {
                    case 0 -> sign * 0f;
                    case 1 -> sign * Float.POSITIVE_INFINITY;
                    case 2 -> Float.NaN;
                    case 3 -> Float.intBitsToFloat(0x7F80_0001); // a NaN whose payload sits in the bits rounded away
                    default -> sign * Float.MAX_VALUE;
                };
                default -> (float) rnd.nextGaussian() * 3;
            };
        }
        return x;
    }

    @Test
    void vectorsRoundAsTheReferenceDoesToTheBit() {
        SplittableRandom rnd = new SplittableRandom(17);
        for (WeightFormat f : new WeightFormat[] {WeightFormat.F16, WeightFormat.BF16}) {
            for (int n : new int[] {1, 7, 33, 1280, 4097}) {
                float[] x = values(rnd, n + 5);
                int off = rnd.nextInt(5);
                float[] out = new float[n + 3];
                HalfRounding.round(f, x, off, n, out, 3);
                float[] inPlace = x.clone();
                HalfRounding.round(f, inPlace, off, n, inPlace, off);
                for (int i = 0; i < n; i++) {
                    float v = x[off + i];
                    float expect = f == WeightFormat.F16 ? HalfRounding.f16(v) : HalfRounding.bf16(v);
                    String at = f + ", n " + n + ", element " + i + " (x " + v + " = 0x" + Integer.toHexString(Float.floatToRawIntBits(v)) + ")";
                    if (Float.isNaN(expect)) {
                        assertTrue(Float.isNaN(out[3 + i]) && Float.isNaN(inPlace[off + i]), at + ": NaN stays NaN");
                    } else {
                        assertEquals(Float.floatToRawIntBits(expect), Float.floatToRawIntBits(out[3 + i]), at);
                        assertEquals(Float.floatToRawIntBits(expect), Float.floatToRawIntBits(inPlace[off + i]), at + " in place");
                    }
                }
            }
        }
    }

    @Test
    void referenceRoundsToNearestEvenInEachFormat() {
        // float16: 11 significant bits; 1 + 2^-11 is a tie between 1 and 1 + 2^-10 (goes to 1, even), 1 + 3 * 2^-11
        // to 1 + 2^-9; 65519 stays 65504, 65520 (a tie with 65536) overflows; 2^-25 is a tie with 0 (goes to 0),
        // 3 * 2^-25 to 2^-23 (even); 2^-26 to 0
        assertEquals(1f, HalfRounding.f16(1 + 0x1p-11f));
        assertEquals(1 + 0x1p-9f, HalfRounding.f16(1 + 3 * 0x1p-11f));
        assertEquals(65504f, HalfRounding.f16(65519f));
        assertEquals(Float.POSITIVE_INFINITY, HalfRounding.f16(65520f));
        assertEquals(Float.NEGATIVE_INFINITY, HalfRounding.f16(-1e6f));
        assertEquals(0f, HalfRounding.f16(0x1p-25f));
        assertEquals(0x1p-23f, HalfRounding.f16(3 * 0x1p-25f));
        assertEquals(0x1p-24f, HalfRounding.f16(0x1.8p-25f)); // 0.75 * 2^-24: nearest is 2^-24
        assertEquals(Float.floatToRawIntBits(-0f), Float.floatToRawIntBits(HalfRounding.f16(-0x1p-26f)));
        // bfloat16: 8 significant bits, float's range
        assertEquals(1f, HalfRounding.bf16(1 + 0x1p-8f));
        assertEquals(1 + 0x1p-6f, HalfRounding.bf16(1 + 3 * 0x1p-8f));
        assertEquals(3.140625f, HalfRounding.bf16((float) Math.PI));
        assertEquals(1e30f, HalfRounding.bf16(1e30f), 1e30f / 128);
        assertEquals(Float.POSITIVE_INFINITY, HalfRounding.bf16(Float.MAX_VALUE));
        assertTrue(Float.isNaN(HalfRounding.bf16(Float.intBitsToFloat(0x7F80_0001))));
    }

    @Test
    void onlyHalfFormatsRound() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> HalfRounding.round(WeightFormat.Q8_0, new float[32], 0, 32, new float[32], 0));
        assertTrue(e.getMessage().contains("Q8_0"), e.getMessage());
    }
}
