package ai.kestrel.engine.ops;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import ai.kestrel.engine.GradCheck;
import ai.kestrel.engine.Rand;
import ai.kestrel.engine.Scope;
import ai.kestrel.engine.Tensor;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class ArithGradTest {
    @Test
    void addAndMulWithEveryBroadcast() {
        try (Scope s = Scope.open()) {
            SplittableRandom rnd = new SplittableRandom(7);
            long[][] smallShapes = {{2, 3, 5}, {5}, {3, 5}, {2, 3, 1}, {1}};
            for (long[] ss : smallShapes) {
                Tensor a = Rand.normal64(rnd, 1, 2, 3, 5).requiresGrad(true);
                Tensor b = Rand.normal64(rnd, 1, ss).requiresGrad(true);
                String c = java.util.Arrays.toString(ss);
                GradCheck.of("add " + c).run(in -> Arith.add(in[0], in[1]), a, b);
                GradCheck.of("add swapped " + c).run(in -> Arith.add(in[1], in[0]), a, b);
                GradCheck.of("mul " + c).run(in -> Arith.mul(in[0], in[1]), a, b);
                GradCheck.of("mul swapped " + c).run(in -> Arith.mul(in[1], in[0]), a, b);
                GradCheck.of("sub " + c).run(in -> Arith.sub(in[0], in[1]), a, b);
            }
        }
    }

    @Test
    void scaleSumMean() {
        try (Scope s = Scope.open()) {
            SplittableRandom rnd = new SplittableRandom(8);
            Tensor a = Rand.normal64(rnd, 1, 4, 6).requiresGrad(true);
            GradCheck.of("scale").run(in -> Arith.scale(in[0], -2.5), a);
            GradCheck.of("sum").run(in -> Arith.sum(in[0]), a);
            GradCheck.of("mean").run(in -> Arith.mean(in[0]), a);
        }
    }

    @Test
    void dropoutIsSeededInvertedAndDifferentiable() {
        try (Scope s = Scope.open()) {
            SplittableRandom rnd = new SplittableRandom(9);
            Tensor a = Rand.normal64(rnd, 1, 40, 50).requiresGrad(true);
            GradCheck.of("dropout").run(in -> Arith.dropout(in[0], 0.3, 77), a);
            Tensor x = Rand.normal32(rnd, 1, 200, 100);
            float[] y1 = Arith.dropout(x, 0.25, 5).toFloatArray();
            float[] y2 = Arith.dropout(x, 0.25, 5).toFloatArray();
            org.junit.jupiter.api.Assertions.assertArrayEquals(y1, y2, "the same seed gives the same mask");
            float[] xs = x.toFloatArray();
            int zeros = 0;
            for (int i = 0; i < xs.length; i++) {
                if (y1[i] == 0f) {
                    zeros++;
                } else {
                    org.junit.jupiter.api.Assertions.assertEquals(xs[i] / 0.75f, y1[i], 1e-6f * Math.abs(xs[i]) + 1e-7f);
                }
            }
            // 20,000 draws at p = 0.25: 5,000 expected, standard deviation ~61
            org.junit.jupiter.api.Assertions.assertTrue(Math.abs(zeros - 5000) < 400, "zeros: " + zeros);
            org.junit.jupiter.api.Assertions.assertSame(x, Arith.dropout(x, 0, 5));
        }
    }

    @Test
    void dropoutDrawsSplittableRandomsSequenceElementByElement() {
        // the mask is documented as element i taking the i-th nextDouble() of SplittableRandom(seed); the kernel
        // computes each draw from i alone (in parallel chunks), so hold both to the generator itself
        SplittableRandom seeds = new SplittableRandom(10);
        for (int rep = 0; rep < 20; rep++) {
            long seed = seeds.nextLong();
            SplittableRandom g = new SplittableRandom(seed);
            for (int i = 0; i < 5000; i++) {
                org.junit.jupiter.api.Assertions.assertEquals(Double.doubleToRawLongBits(g.nextDouble()),
                        Double.doubleToRawLongBits(ai.kestrel.kernels.elementwise.Elementwise.draw(seed, i)), "seed " + seed + ", draw " + i);
            }
        }
        try (Scope s = Scope.open()) {
            SplittableRandom rnd = new SplittableRandom(11);
            for (int n : new int[] {1, 7, 16383, 16384, 16385, 70001}) {
                Tensor x = Rand.normal32(rnd, 1, n);
                long seed = rnd.nextLong();
                double p = 0.05 + 0.5 * rnd.nextDouble();
                float[] y = Arith.dropout(x, p, seed).toFloatArray();
                float[] xs = x.toFloatArray();
                SplittableRandom g = new SplittableRandom(seed);
                float keep = (float) (1 / (1 - p));
                for (int i = 0; i < n; i++) {
                    float expect = g.nextDouble() < p ? 0f : xs[i] * keep;
                    org.junit.jupiter.api.Assertions.assertEquals(Float.floatToRawIntBits(expect), Float.floatToRawIntBits(y[i]),
                            "n " + n + ", p " + p + ", element " + i);
                }
            }
        }
    }

    @Test
    void badBroadcastNamesShapes() {
        try (Scope s = Scope.open()) {
            Tensor a = Tensor.zeros(ai.kestrel.engine.DType.F32, 2, 3);
            Tensor b = Tensor.zeros(ai.kestrel.engine.DType.F32, 2);
            var e = assertThrows(IllegalArgumentException.class, () -> Arith.add(a, b));
            org.junit.jupiter.api.Assertions.assertTrue(e.getMessage().contains("[2]") && e.getMessage().contains("[2, 3]"), e.getMessage());
        }
    }

    @Test
    void knownValues() {
        try (Scope s = Scope.open()) {
            Tensor a = Tensor.of(new float[] {1, 2, 3, 4, 5, 6}, 2, 3);
            Tensor row = Tensor.of(new float[] {10, 20, 30}, 3);
            Tensor col = Tensor.of(new float[] {100, 200}, 2, 1);
            assertArrayEquals(new float[] {11, 22, 33, 14, 25, 36}, Arith.add(a, row).toFloatArray());
            assertArrayEquals(new float[] {100, 200, 300, 800, 1000, 1200}, Arith.mul(a, col).toFloatArray());
            assertArrayEquals(new float[] {3.5f}, Arith.mean(a).toFloatArray());
        }
    }
}
