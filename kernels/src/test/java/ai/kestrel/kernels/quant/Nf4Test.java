package ai.kestrel.kernels.quant;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class Nf4Test {
    @Test
    void codeIsBitsandbytesNf4() {
        float[] c = Nf4.code();
        assertEquals(16, c.length);
        assertEquals(-1f, c[0]);
        assertEquals(0f, c[7]);
        assertEquals(1f, c[15]);
        assertEquals(0.07958029955625534f, c[8]);
        assertEquals(-0.6961928009986877f, c[1]);
        for (int i = 1; i < 16; i++) {
            assertTrue(c[i] > c[i - 1], "sorted at " + i);
        }
    }

    @Test
    void dynamicMapHasTheSignedDynamicExponentLayout() {
        float[] m = Nf4.dynamicMap();
        assertEquals(256, m.length);
        for (int i = 1; i < 256; i++) {
            assertTrue(m[i] >= m[i - 1], "sorted at " + i);
        }
        assertEquals(1f, m[255]);
        // the analytic values: 2^i midpoints of linspace(0.1, 1, 2^i + 1), times 10^(i - 6), both signs, 0 and 1
        double[] expect = new double[256];
        int n = 0;
        for (int i = 0; i < 7; i++) {
            int items = (1 << i) + 1;
            for (int j = 0; j + 1 < items; j++) {
                double a = 0.1 + 0.9 * j / (items - 1);
                double b = 0.1 + 0.9 * (j + 1) / (items - 1);
                expect[n++] = Math.pow(10, i - 6) * (a + b) / 2;
                expect[n++] = -Math.pow(10, i - 6) * (a + b) / 2;
            }
        }
        expect[n++] = 0;
        expect[n++] = 1;
        java.util.Arrays.sort(expect);
        for (int i = 0; i < 256; i++) {
            assertEquals(expect[i], m[i], Math.abs(expect[i]) * 1e-6, "entry " + i);
        }
        assertEquals(-0.99296875, m[0], 1e-6); // the largest magnitude below 1: the mean of 0.9859375 and 1
    }

    @Test
    void packsTheFirstValueInTheHighNibble() {
        float[] w = new float[64];
        w[0] = 2f;   // absmax: code 15
        w[1] = -2f;  // code 0
        w[2] = 0f;   // code 7
        w[3] = 0.16f; // 0.08 of absmax: nearest 0.0796 (code 8)
        Nf4.Quantized q = Nf4.quantize(w);
        assertEquals(32, q.packed().length);
        assertEquals((byte) 0xF0, q.packed()[0]);
        assertEquals((byte) 0x78, q.packed()[1]);
        assertEquals(15, Nf4.nibble(q.packed(), 0));
        assertEquals(8, Nf4.nibble(q.packed(), 3));
        float[] d = Nf4.dequantize(q);
        assertEquals(2f, d[0], 1e-6); // one block: its absmax is the offset and comes back exactly
        assertEquals(-2f, d[1], 1e-6);
        assertEquals(0f, d[2]);
        assertEquals(2f * 0.07958029955625534f, d[3], 1e-6);
    }

    @Test
    void everyValueTakesItsNearestCode() {
        SplittableRandom rnd = new SplittableRandom(7);
        for (int count : new int[] {1, 63, 64, 65, 4097, 64 * 300 + 17}) {
            float[] w = new float[count];
            for (int i = 0; i < count; i++) {
                w[i] = (float) (rnd.nextGaussian() * 0.02);
            }
            Nf4.Quantized q = Nf4.quantize(w);
            assertEquals((count + 1) / 2, q.packed().length);
            assertEquals(Nf4.blocks(count), q.absmaxCodes().length);
            float[] code = Nf4.code();
            for (int i = 0; i < count; i++) {
                int b = i / Nf4.BLOCK;
                float m = 0;
                for (int j = b * Nf4.BLOCK; j < Math.min(count, (b + 1) * Nf4.BLOCK); j++) {
                    m = Math.max(m, Math.abs(w[j]));
                }
                float s = w[i] * (1f / m);
                int got = Nf4.nibble(q.packed(), i);
                for (int c = 0; c < 16; c++) {
                    assertTrue(Math.abs(s - code[got]) <= Math.abs(s - code[c]),
                            "count=" + count + " value " + i + ": code " + got + " but " + c + " is nearer to " + s);
                }
            }
        }
    }

    @Test
    void doubleQuantizedScalesStayCloseToTheTrueOnes() {
        SplittableRandom rnd = new SplittableRandom(11);
        int count = 64 * 700 + 5; // three nested blocks, the last one partial
        float[] w = new float[count];
        for (int i = 0; i < count; i++) {
            w[i] = (float) (rnd.nextGaussian() * (0.01 + (i / 64 % 13) * 0.003));
        }
        Nf4.Quantized q = Nf4.quantize(w);
        assertEquals(3, q.nestedAbsmax().length);
        float[] recon = q.absmax();
        for (int b = 0; b < recon.length; b++) {
            float m = 0;
            for (int j = b * 64; j < Math.min(count, (b + 1) * 64); j++) {
                m = Math.max(m, Math.abs(w[j]));
            }
            // the dynamic map is densest near 0 and spaced 0.9 / 64 near +-1: half a gap at most
            assertEquals(m, recon[b], q.nestedAbsmax()[b / 256] * 0.0071 + 1e-9, "block " + b);
        }
        // and the dequantized weight is within half a code gap of each value (plus the scale's error)
        float[] d = Nf4.dequantize(q);
        for (int i = 0; i < count; i++) {
            float a = recon[i / 64];
            assertEquals(w[i], d[i], a * 0.2 + q.nestedAbsmax()[i / 64 / 256] * 0.0071, "value " + i);
        }
        // 4 bits per value, 8 per 64 for the scales, 32 per 16384 for the nested scales: ~4.127 bits
        double bits = 8.0 * (q.packed().length + q.absmaxCodes().length + 4.0 * q.nestedAbsmax().length + 4) / count;
        assertEquals(4.127, bits, 0.01);
    }

    @Test
    void zeroBlocksTakeCodeZeroAsBitsandbytesDoes() {
        // 0 * (1 / 0) is NaN: bitsandbytes (argmin on CPU, the comparison tree on CUDA) gives every value of an
        // all-zero block code 0 (-1.0), so it dequantizes to -absmax', which double quantization leaves near 0
        float[] w = new float[200];
        for (int i = 64; i < 128; i++) {
            w[i] = (i % 5 - 2) * 0.01f;
        }
        Nf4.Quantized q = Nf4.quantize(w);
        float[] recon = q.absmax();
        float[] d = Nf4.dequantize(q);
        for (int i = 0; i < 200; i++) {
            if (i >= 64 && i < 128) {
                continue;
            }
            assertEquals(0, Nf4.nibble(q.packed(), i), "value " + i);
            assertEquals(-recon[i / 64], d[i], 0f, "value " + i);
            assertEquals(0f, d[i], q.nestedAbsmax()[0] * 0.0071, "value " + i);
        }
        assertEquals(0.02f, d[69], 2e-4); // the block maximum (69 % 5 == 4) comes back within its scale's error
    }

    /**
     * bitsandbytes' quantize_4bit and quantize_blockwise written again from the spec, as plainly as possible
     * (double arithmetic only where the spec has none to specify), for a byte-for-byte comparison.
     */
    private static byte[][] specQuantize(float[] w) {
        float[] code = Nf4.code();
        int blocks = (w.length + 63) / 64;
        float[] absmax = new float[blocks];
        byte[] packed = new byte[(w.length + 1) / 2];
        for (int i = 0; i < w.length; i++) {
            int b = i / 64;
            if (i % 64 == 0) {
                float m = 0;
                for (int j = i; j < Math.min(w.length, i + 64); j++) {
                    m = Math.max(m, Math.abs(w[j]));
                }
                absmax[b] = m;
            }
            float scaled = Math.min(1f, Math.max(-1f, w[i] * (1f / absmax[b])));
            int best = 0;
            for (int c = 1; c < 16; c++) {
                if (Math.abs(scaled - code[c]) < Math.abs(scaled - code[best])) {
                    best = c;
                }
            }
            packed[i / 2] |= (byte) (i % 2 == 0 ? best << 4 : best);
        }
        double mean = 0;
        for (float a : absmax) {
            mean += a;
        }
        float offset = (float) (mean / blocks);
        float[] map = Nf4.dynamicMap();
        byte[] q = new byte[blocks];
        for (int g = 0; g < blocks; g += 256) {
            float m = 0;
            for (int j = g; j < Math.min(blocks, g + 256); j++) {
                m = Math.max(m, Math.abs(absmax[j] - offset));
            }
            for (int j = g; j < Math.min(blocks, g + 256); j++) {
                float s = Math.min(1f, Math.max(-1f, (absmax[j] - offset) * (1f / m)));
                int best = 0;
                for (int c = 1; c < 256; c++) {
                    if (Math.abs(s - map[c]) < Math.abs(s - map[best])) {
                        best = c;
                    }
                }
                q[j] = (byte) best;
            }
        }
        return new byte[][] {packed, q};
    }

    @Test
    void bytesEqualTheSpecOnRandomTensors() {
        SplittableRandom rnd = new SplittableRandom(99);
        for (int count : new int[] {2, 7, 64, 100, 1000, 64 * 257 + 31}) {
            float[] w = new float[count];
            for (int i = 0; i < count; i++) {
                w[i] = (float) (rnd.nextGaussian() * (i % 3 == 0 ? 0.5 : 0.01));
            }
            Nf4.Quantized q = Nf4.quantize(w);
            byte[][] spec = specQuantize(w);
            org.junit.jupiter.api.Assertions.assertArrayEquals(spec[0], q.packed(), "codes, count " + count);
            org.junit.jupiter.api.Assertions.assertArrayEquals(spec[1], q.absmaxCodes(), "absmax codes, count " + count);
        }
    }
}
