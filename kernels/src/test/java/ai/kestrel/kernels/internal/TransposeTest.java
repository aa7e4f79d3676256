package ai.kestrel.kernels.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * {@link Transpose#matrix} against the plain double loop, on random shapes (whole blocks of 8 and 16 and ragged
 * edges, 1 and 4097 included) at random offsets; every element is compared exactly, as a transpose only moves them.
 */
class TransposeTest {
    @Test
    void matrixMatchesThePlainLoop() {
        SplittableRandom rnd = new SplittableRandom(11);
        int[][] shapes = {{1, 1}, {7, 33}, {16, 16}, {33, 7}, {64, 128}, {128, 64}, {256, 64}, {17, 48}, {40, 24}, {1, 4097}, {4097, 1},
            {rnd.nextInt(1, 300), rnd.nextInt(1, 300)}, {rnd.nextInt(1, 300), rnd.nextInt(1, 300)}};
        for (int[] sh : shapes) {
            int rows = sh[0];
            int cols = sh[1];
            int so = rnd.nextInt(20);
            float[] src = new float[so + rows * cols + rnd.nextInt(20)];
            for (int i = 0; i < src.length; i++) {
                src[i] = (float) rnd.nextGaussian();
            }
            float[] dst = new float[rows * cols];
            java.util.Arrays.fill(dst, Float.NaN);
            Transpose.matrix(src, so, rows, cols, dst);
            for (int r = 0; r < rows; r++) {
                for (int c = 0; c < cols; c++) {
                    assertEquals(src[so + r * cols + c], dst[c * rows + r], "rows " + rows + ", cols " + cols + ", offset " + so + ": (" + r + ", " + c + ")");
                }
            }
        }
    }
}
