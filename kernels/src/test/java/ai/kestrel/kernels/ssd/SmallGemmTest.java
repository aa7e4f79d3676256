package ai.kestrel.kernels.ssd;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * {@link SmallGemm} against a plain triple loop in double, on random shapes, strides and offsets; lower- and
 * upper-triangular products with A zero above or below its diagonal, as their contract says; each also with
 * {@link SmallGemm#SET}, over a C of random values that must not enter the result.
 */
class SmallGemmTest {
    @Test
    void matchesTheTripleLoop() {
        long seed = 7; // one per case, so that a case can be run alone
        // rows, k, p: whole and partial blocks of four rows, whole and partial panels of columns (8 and 16 lanes)
        // (from 4 rows and two vectors of columns, 8-lane machines pack the operands: whole and partial there too)
        int[][] shapes = {{1, 1, 1}, {4, 3, 16}, {7, 33, 64}, {128, 128, 64}, {9, 256, 40}, {256, 128, 64}, {5, 17, 33},
            {12, 70, 96}, {3, 5, 64}, {33, 1, 17}, {19, 50, 40}, {21, 9, 23}, {16, 300, 16}, {130, 64, 128}};
        for (int[] sh : shapes) {
            for (int shape : new int[] {SmallGemm.FULL, SmallGemm.LOWER, SmallGemm.UPPER}) {
                for (boolean set : new boolean[] {false, true}) {
                    for (boolean transposedA : new boolean[] {false, true}) {
                        check(seed++, sh[0], sh[1], sh[2], shape, set, transposedA);
                    }
                }
            }
        }
    }

    private static void check(long seed, int rows, int k0, int p, int shape, boolean set, boolean transposedA) {
        SplittableRandom rnd = new SplittableRandom(seed);
        int k = shape != SmallGemm.FULL ? Math.max(k0, rows) : k0;
        int ao = rnd.nextInt(5);
        int ars = transposedA ? 1 : k + rnd.nextInt(3);
        int aks = transposedA ? rows + rnd.nextInt(3) : 1;
        int bo = rnd.nextInt(5);
        int brs = p + rnd.nextInt(3);
        int co = rnd.nextInt(5);
        int crs = p + rnd.nextInt(3);
        float[] a = random(rnd, ao + rows * ars + k * aks + 1);
        float[] b = random(rnd, bo + k * brs + p);
        float[] c = random(rnd, co + rows * crs + p);
        // the contract: A is zero above (LOWER) or below (UPPER) its diagonal
        for (int r = 0; r < rows; r++) {
            for (int kk = 0; kk < k; kk++) {
                if (shape == SmallGemm.LOWER && kk > r || shape == SmallGemm.UPPER && kk < r) {
                    a[ao + r * ars + kk * aks] = 0f;
                }
            }
        }
        double[] expect = new double[c.length];
        for (int i = 0; i < c.length; i++) {
            expect[i] = c[i];
        }
        for (int r = 0; r < rows; r++) {
            for (int j = 0; j < p; j++) {
                double sum = set ? 0 : expect[co + r * crs + j]; // with SET, C's old values are not part of the result
                for (int kk = 0; kk < k; kk++) { // every term, the zeros included
                    sum += (double) a[ao + r * ars + kk * aks] * b[bo + kk * brs + j];
                }
                expect[co + r * crs + j] = sum;
            }
        }
        SmallGemm.run(a, ao, ars, aks, b, bo, brs, c, co, crs, rows, k, p, shape | (set ? SmallGemm.SET : 0));
        String at = "seed=" + seed + " rows " + rows + ", k " + k + ", p " + p + new String[] {"", ", lower triangular", ", upper triangular"}[shape]
                + (transposedA ? ", A transposed" : "") + (set ? ", set" : "") + "; A at " + ao + " strides (" + ars + ", " + aks
                + "), B at " + bo + " row stride " + brs + ", C at " + co + " row stride " + crs;
        for (int i = 0; i < c.length; i++) {
            assertEquals(expect[i], c[i], 1e-5 * Math.sqrt(k) + 1e-6, at + ", element " + i);
        }
    }

    private static float[] random(SplittableRandom rnd, int n) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = (float) rnd.nextGaussian();
        }
        return x;
    }
}
