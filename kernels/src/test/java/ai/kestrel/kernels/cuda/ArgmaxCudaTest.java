package ai.kestrel.kernels.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import ai.kestrel.kernels.Buf;
import ai.kestrel.kernels.Twin;
import java.lang.foreign.Arena;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** The GPU's row arg-max against a plain loop: random rows, ties (the first column wins), NaN and infinities. */
@RequiresCuda
class ArgmaxCudaTest {
    private static int[] reference(float[] x, int rows, int cols) {
        int[] out = new int[rows];
        for (int r = 0; r < rows; r++) {
            int best = -1;
            for (int c = 0; c < cols; c++) {
                float v = x[r * cols + c];
                if (!Float.isNaN(v) && (best < 0 || v > x[r * cols + best])) {
                    best = c;
                }
            }
            out[r] = best < 0 ? 0 : best;
        }
        return out;
    }

    @Test
    void matchesALoopOnRandomRowsTiesAndSpecials() {
        SplittableRandom rnd = new SplittableRandom(3);
        for (int[] shape : new int[][] {{1, 1}, {3, 7}, {5, 33}, {17, 300}, {4, 65536}, {2, 4097}}) {
            int rows = shape[0], cols = shape[1];
            float[] x = new float[rows * cols];
            for (int i = 0; i < x.length; i++) {
                x[i] = (float) Math.floor(rnd.nextGaussian() * 4); // coarse values: many ties
            }
            if (cols > 10) {
                x[2] = Float.NaN;
                x[cols + 5] = Float.POSITIVE_INFINITY;
                x[cols + 9] = Float.POSITIVE_INFINITY; // a tie at +inf: the first wins
            }
            try (Arena a = Arena.ofConfined()) {
                Buf b = Buf.ofF32(a, x);
                assertArrayEquals(reference(x, rows, cols), ElementwiseCuda.argmaxRows(b, rows, cols), rows + "x" + cols);
            }
        }
    }
}
