package ai.kestrel.kernels.quant;

import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.kestrel.kernels.Twin;
import java.lang.foreign.Arena;
import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * {@link Dequant#decode} (the vectorised decoders the GEMM's weight panels, the embedding and the multi-row GEMV
 * read) against {@link Weights#get}, its reference, for every format: random rows, stretches starting and ending on
 * block boundaries at random, and written into an array full of NaN at a random offset, so that every element must
 * be written, exactly, and nothing around the stretch.
 */
class DequantTest {
    @Test
    void everyFormatDecodesAsTheReference() {
        for (WeightFormat f : new WeightFormat[] {WeightFormat.F32, WeightFormat.BF16, WeightFormat.F16, WeightFormat.Q8_0,
            WeightFormat.NF4}) {
            int unit = f == WeightFormat.NF4 ? WeightFormat.NF4_BLOCK : f == WeightFormat.Q8_0 ? WeightFormat.Q8_0_BLOCK : 1;
            for (int k : new int[] {64, 128, 1280, 4096 + 64}) {
                long seed = 7919L * k + f.ordinal();
                SplittableRandom rnd = new SplittableRandom(seed);
                int n = 5;
                float[] vals = Twin.normal(rnd, n * k, 1);
                try (Arena arena = Arena.ofShared()) {
                    Weights w = Codecs.encode(arena, vals, n, k, f);
                    for (int trial = 0; trial < 4; trial++) {
                        int row = rnd.nextInt(n);
                        int units = k / unit;
                        int u0 = rnd.nextInt(units);
                        int c0 = u0 * unit;
                        int len = (1 + rnd.nextInt(units - u0)) * unit;
                        int off = rnd.nextInt(17);
                        float[] out = new float[off + len + 9];
                        Arrays.fill(out, Float.NaN);
                        Dequant.decode(w, row, c0, len, out, off);
                        String c = "seed=" + seed + " " + f + " K=" + k + " row=" + row + " c0=" + c0 + " len=" + len + " off=" + off;
                        for (int i = 0; i < out.length; i++) {
                            if (i < off || i >= off + len) {
                                assertEquals(Float.NaN, out[i], c + ": element " + i + " outside the stretch was written");
                            } else {
                                assertEquals(w.get(row, c0 + i - off), out[i], 0, c + ": element " + (c0 + i - off));
                            }
                        }
                    }
                }
            }
        }
    }
}
