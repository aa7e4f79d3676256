package ai.kestrel.kernels;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import jdk.incubator.vector.FloatVector;
import org.junit.jupiter.api.Test;

class VecTest {
    @Test
    void widthFollowsTheProperty() {
        // Surefire runs this module three times: preferred width, then forced 256 and 128 bits
        String bits = System.getProperty(Vec.WIDTH_PROPERTY);
        int expected = bits == null ? FloatVector.SPECIES_PREFERRED.vectorBitSize() : Integer.parseInt(bits);
        assertEquals(expected, Vec.F.vectorBitSize());
        assertEquals(expected / 32, Vec.LANES);
    }

    @Test
    void badWidthIsRejected() {
        assertThrows(IllegalArgumentException.class, () -> Vec.species("96"));
        assertEquals(128, Vec.species("128").vectorBitSize());
    }

    private static float[] apply(java.util.function.UnaryOperator<FloatVector> f, float[] x) {
        float[] y = new float[x.length];
        for (int i = 0; i < x.length; i += Vec.LANES) {
            f.apply(FloatVector.fromArray(Vec.F, x, i)).intoArray(y, i);
        }
        return y;
    }

    private static float[] random(SplittableRandom rnd, int n, double lo, double hi) {
        float[] x = new float[n * Vec.LANES];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) (lo + (hi - lo) * rnd.nextDouble());
        }
        return x;
    }

    /** The sum is the pairwise tree over lanes i and i + half, whatever the tier: compare with that tree in scalar code. */
    @Test
    void sumIsTheFixedPairwiseTree() {
        SplittableRandom rnd = new SplittableRandom(11);
        for (int rep = 0; rep < 2000; rep++) {
            float[] x = random(rnd, 1, -1e3, 1e3);
            float[] t = x.clone();
            for (int half = Vec.LANES / 2; half >= 1; half /= 2) {
                float[] n = new float[t.length];
                for (int i = 0; i < t.length; i++) {
                    n[i] = t[i] + t[(i + half) % t.length];
                }
                t = n;
            }
            assertEquals(t[0], Vec.sum(FloatVector.fromArray(Vec.F, x, 0)), "sum of " + java.util.Arrays.toString(x));
        }
    }

    @Test
    void expIsWithinTwoUlpOfMathExp() {
        SplittableRandom rnd = new SplittableRandom(3);
        float[] x = random(rnd, 20_000, -87.3, 88.7);
        float[] y = apply(Vec::exp, x);
        for (int i = 0; i < x.length; i++) {
            float e = (float) Math.exp(x[i]);
            assertTrue(Math.abs(y[i] - e) <= 2 * Math.ulp(e), "exp(" + x[i] + ") = " + y[i] + ", Math.exp " + e);
        }
        float[] special = new float[Vec.LANES];
        float[] values = {Float.NEGATIVE_INFINITY, -1000f, -87.5f, 0f, -0f, 88.8f, Float.POSITIVE_INFINITY, Float.NaN};
        for (int i = 0; i < special.length; i++) {
            special[i] = values[i % values.length];
        }
        float[] ys = apply(Vec::exp, special);
        for (int i = 0; i < special.length; i++) {
            float v = special[i];
            float want = v < -87.33f ? 0f : (float) Math.exp(v);
            assertEquals(want, ys[i], "exp(" + v + ")");
        }
    }

    @Test
    void expShiftedSumIsExpPerLaneAndTheirSum() {
        SplittableRandom rnd = new SplittableRandom(4);
        for (int vectors : new int[] {1, 3, 17}) {
            int from = Vec.LANES * rnd.nextInt(3);
            float[] a = random(rnd, from + vectors * Vec.LANES + 5, -30, 5);
            float[] before = a.clone();
            float shift = (float) rnd.nextDouble(-2, 2);
            float sum = Vec.expShiftedSum(a, from, vectors * Vec.LANES, shift);
            double want = 0;
            for (int i = 0; i < a.length; i++) {
                boolean in = i >= from && i < from + vectors * Vec.LANES;
                float e = in ? Vec.exp(FloatVector.broadcast(Vec.F, before[i] - shift)).lane(0) : before[i];
                assertEquals(e, a[i], "element " + i + " of " + a.length + " (from " + from + ", " + vectors + " vectors)");
                want += in ? e : 0;
            }
            assertEquals(want, sum, 1e-5 * want, "sum over " + vectors + " vectors from " + from);
        }
    }

    @Test
    void softplusAndSigmoidMatchDoubleFormulas() {
        SplittableRandom rnd = new SplittableRandom(4);
        float[] x = random(rnd, 20_000, -60, 60);
        float[] sp = apply(Vec::softplus, x);
        float[] sg = apply(Vec::sigmoid, x);
        for (int i = 0; i < x.length; i++) {
            double v = x[i];
            double want = Math.max(v, 0) + Math.log1p(Math.exp(-Math.abs(v)));
            assertEquals(want, sp[i], 4 * Math.ulp((float) want), "softplus(" + v + ")");
            double s = 1 / (1 + Math.exp(-v));
            assertEquals(s, sg[i], 4 * Math.ulp((float) s) + 1e-30, "sigmoid(" + v + ")");
        }
        float[] special = new float[Vec.LANES];
        float[] values = {Float.NEGATIVE_INFINITY, Float.POSITIVE_INFINITY, Float.NaN, 0f};
        for (int i = 0; i < special.length; i++) {
            special[i] = values[i % values.length];
        }
        float[] ys = apply(Vec::softplus, special);
        for (int i = 0; i < special.length; i++) {
            float v = special[i];
            float want = Float.isNaN(v) ? Float.NaN : v == Float.NEGATIVE_INFINITY ? 0f : v == Float.POSITIVE_INFINITY ? v : (float) Math.log(2);
            assertEquals(want, ys[i], "softplus(" + v + ")");
        }
    }

    /**
     * {@code reduceLanes(ADD)} adds in an order the Vector API leaves open (lane by lane when interpreted, a tree in
     * C2), so a kernel using it gives different bits cold and warm: a resumed training run (a new, cold JVM) would not
     * reproduce the uninterrupted one. Kernels sum lanes with {@link Vec#sum}. The exception is the decode path
     * ({@code Gemv}, {@code GemvFused}: at most 16 rows, inference), where a fixed-order sum cost 10-16% of lm_head's
     * speed; training's micro-batches of more than 16 tokens never reach it.
     */
    @org.junit.jupiter.api.Test
    void kernelsSumLanesInAFixedOrder() throws java.io.IOException {
        java.nio.file.Path src = java.nio.file.Path.of(System.getProperty("kestrel.testdata")).getParent().resolve("kernels/src/main/java");
        java.util.Set<String> decode = java.util.Set.of("Gemv.java", "GemvFused.java");
        int checked = 0;
        try (var files = java.nio.file.Files.walk(src)) {
            for (java.nio.file.Path f : files.filter(p -> p.toString().endsWith(".java")).toList()) {
                if (decode.contains(f.getFileName().toString())) {
                    continue;
                }
                checked++;
                org.junit.jupiter.api.Assertions.assertFalse(java.nio.file.Files.readString(f).contains("reduceLanes(VectorOperators.ADD)"),
                        f + " sums lanes with reduceLanes(ADD); use Vec.sum (one order in every JIT tier)");
            }
        }
        org.junit.jupiter.api.Assertions.assertTrue(checked > 50, "kernel sources found: " + checked);
    }
}
