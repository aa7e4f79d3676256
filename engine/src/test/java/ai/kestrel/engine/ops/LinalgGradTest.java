package ai.kestrel.engine.ops;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.kestrel.engine.Autograd;
import ai.kestrel.engine.DType;
import ai.kestrel.engine.GradCheck;
import ai.kestrel.engine.Rand;
import ai.kestrel.engine.Scope;
import ai.kestrel.engine.Tensor;
import ai.kestrel.kernels.quant.Q8Activations;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class LinalgGradTest {
    @Test
    void linearAllInputs() {
        try (Scope s = Scope.open()) {
            SplittableRandom rnd = new SplittableRandom(21);
            Tensor x = Rand.normal64(rnd, 1, 2, 3, 7).requiresGrad(true);
            Tensor w = Rand.normal64(rnd, 1, 5, 7).requiresGrad(true);
            Tensor b = Rand.normal64(rnd, 1, 5).requiresGrad(true);
            GradCheck.of("linear").run(in -> Linalg.linear(in[0], in[1], in[2]), x, w, b);
            GradCheck.of("linear no bias").run(in -> Linalg.linear(in[0], in[1], null), x, w);
        }
    }

    @Test
    void addLinearAllInputs() {
        try (Scope s = Scope.open()) {
            SplittableRandom rnd = new SplittableRandom(24);
            Tensor y = Rand.normal64(rnd, 1, 2, 3, 5).requiresGrad(true);
            Tensor x = Rand.normal64(rnd, 1, 2, 3, 7).requiresGrad(true);
            Tensor w = Rand.normal64(rnd, 1, 5, 7).requiresGrad(true);
            GradCheck.of("addLinear").run(in -> Linalg.addLinear(in[0], in[1], in[2]), y, x, w);
        }
    }

    /** The fused sum equals {@code y + linear(x, w)} in float32, over the GEMV and GEMM row counts, and refuses a wrong y. */
    @Test
    void addLinearEqualsLinearThenAdd() {
        try (Scope s = Scope.open()) {
            SplittableRandom rnd = new SplittableRandom(25);
            for (int m : new int[] {3, 40}) {
                Tensor y = Rand.normal32(rnd, 1, m, 33);
                Tensor x = Rand.normal32(rnd, 1, m, 16);
                Tensor w = Rand.normal32(rnd, 1, 33, 16);
                float[] fused = Linalg.addLinear(y, x, w).toFloatArray();
                float[] apart = Arith.add(y, Linalg.linear(x, w, null)).toFloatArray();
                for (int i = 0; i < fused.length; i++) {
                    assertTrue(Math.abs(fused[i] - apart[i]) <= 1e-5 * (1 + Math.abs(apart[i])), "m=" + m + " element " + i);
                }
            }
            Tensor x = Rand.normal32(rnd, 1, 4, 16);
            Tensor w = Rand.normal32(rnd, 1, 33, 16);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> Linalg.addLinear(Rand.normal32(rnd, 1, 4, 32), x, w));
            assertTrue(e.getMessage().contains("addLinear: y has shape [4, 32]"), e.getMessage());
        }
    }

    @Test
    void linearPairAllInputs() {
        try (Scope s = Scope.open()) {
            SplittableRandom rnd = new SplittableRandom(26);
            Tensor x = Rand.normal64(rnd, 1, 2, 3, 7).requiresGrad(true);
            Tensor w = Rand.normal64(rnd, 1, 5, 7).requiresGrad(true);
            Tensor h = Rand.normal64(rnd, 1, 2, 3, 4).requiresGrad(true);
            Tensor u = Rand.normal64(rnd, 1, 5, 4).requiresGrad(true);
            GradCheck.of("linearPair").run(in -> Linalg.linearPair(in[0], in[1], in[2], in[3], Numerics.TRANSFORMERS), x, w, h, u);
        }
    }

    /**
     * The fused pair equals {@code addLinear(linear(x, w), h, u)} in float32 over the GEMV and GEMM row counts, with
     * a BF16 base weight (a frozen LoRA base), a frozen base's gradient left null, and refuses operands that do not
     * make one output.
     */
    @Test
    void linearPairEqualsLinearThenAddLinear() {
        try (Scope s = Scope.open()) {
            SplittableRandom rnd = new SplittableRandom(27);
            for (int m : new int[] {3, 40}) {
                Tensor x = Rand.normal32(rnd, 1, m, 64).requiresGrad(true);
                Tensor w = Casts.to(Rand.normal32(rnd, 1, 33, 64), DType.BF16);
                Tensor h = Rand.normal32(rnd, 1, m, 16).requiresGrad(true);
                Tensor u = Rand.normal32(rnd, 1, 33, 16).requiresGrad(true);
                Tensor fused = Linalg.linearPair(x, w, h, u, Numerics.TRANSFORMERS);
                Tensor apart = Linalg.addLinear(Linalg.linear(x, w, null), h, u);
                float[] a = apart.toFloatArray();
                float[] f = fused.toFloatArray();
                for (int i = 0; i < f.length; i++) {
                    assertTrue(Math.abs(f[i] - a[i]) <= 1e-5 * (1 + Math.abs(a[i])), "m=" + m + " element " + i);
                }
                Tensor g = Rand.normal32(rnd, 1, m, 33);
                Tensor[] viaFused = grads(Arith.sum(Arith.mul(fused, g)), x, h, u);
                Tensor[] viaApart = grads(Arith.sum(Arith.mul(apart, g)), x, h, u);
                for (int j = 0; j < viaFused.length; j++) {
                    float[] p = viaFused[j].toFloatArray();
                    float[] q = viaApart[j].toFloatArray();
                    for (int i = 0; i < p.length; i++) {
                        assertTrue(Math.abs(p[i] - q[i]) <= 1e-4 * (1 + Math.abs(q[i])), "m=" + m + " gradient " + j + " element " + i);
                    }
                }
                assertNull(w.grad());
            }
            Tensor x = Rand.normal32(rnd, 1, 4, 16);
            Tensor w = Rand.normal32(rnd, 1, 33, 16);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> Linalg.linearPair(x, w, Rand.normal32(rnd, 1, 4, 8), Rand.normal32(rnd, 1, 32, 8), Numerics.TRANSFORMERS));
            assertTrue(e.getMessage().contains("linearPair: x [4, 16] times w [33, 16] and h [4, 8] times u [32, 8]"), e.getMessage());
        }
    }

    /** The gradients of {@code loss} for {@code ts}, each copied out and then cleared. */
    private static Tensor[] grads(Tensor loss, Tensor... ts) {
        Autograd.backward(loss);
        Tensor[] out = new Tensor[ts.length];
        for (int j = 0; j < ts.length; j++) {
            out[j] = Casts.to(ts[j].grad(), DType.F32);
            ts[j].clearGrad();
        }
        return out;
    }

    @Test
    void frozenWeightPassesGradientToInputOnly() {
        try (Scope s = Scope.open()) {
            SplittableRandom rnd = new SplittableRandom(22);
            Tensor x = Rand.normal64(rnd, 1, 4, 6).requiresGrad(true);
            Tensor w = Rand.normal64(rnd, 1, 3, 6);
            GradCheck.of("linear frozen w").run(in -> Linalg.linear(in[0], in[1], null), x, w);
            assertNull(w.grad());
        }
    }

    @Test
    void quantizedWeightsMatchTheirDecodedFloats() {
        try (Scope s = Scope.open()) {
            SplittableRandom rnd = new SplittableRandom(23);
            Tensor x = Rand.normal32(rnd, 1, 5, 64);
            Tensor w32 = Rand.normal32(rnd, 1, 9, 64);
            for (DType q : new DType[] {DType.BF16, DType.F16, DType.Q8_0, DType.NF4}) {
                Tensor wq = Casts.to(w32, q);
                Tensor decoded = Casts.to(wq, DType.F32);
                float[] a = Linalg.linear(x, wq, null).toFloatArray();
                // Q8_0 weights multiply x rounded as ggml rounds it (Q8Activations); the others x itself
                Tensor xq = q == DType.Q8_0 ? Tensor.of(Q8Activations.round(x.toFloatArray(), 5, 64), 5, 64) : x;
                float[] b = Linalg.linear(xq, decoded, null).toFloatArray();
                for (int i = 0; i < a.length; i++) {
                    assertTrue(Math.abs(a[i] - b[i]) < 1e-4, q + " element " + i + ": " + a[i] + " vs " + b[i]);
                }
                if (q == DType.Q8_0) {
                    float[] unrounded = Linalg.linear(x, decoded, null).toFloatArray();
                    double worst = 0;
                    for (int i = 0; i < a.length; i++) {
                        worst = Math.max(worst, Math.abs(a[i] - unrounded[i]));
                    }
                    assertTrue(worst > 1e-3, "the rounding shows: " + worst);
                }
                // the gradient reaches x through a frozen quantized weight (the rounding passes it straight through)
                gradientPassesStraightThrough(rnd, wq, decoded, Numerics.TRANSFORMERS, q.toString());
            }
        }
    }

    /**
     * {@link Numerics#GGML}: F16 and BF16 weights multiply x rounded to their type (as llama.cpp does), in linear and
     * linearMany alike, and the gradient passes the rounding straight through; {@link Numerics#TRANSFORMERS} multiplies
     * x itself.
     */
    @Test
    void ggmlNumericsRoundTheInputToTheWeightsType() {
        try (Scope s = Scope.open()) {
            SplittableRandom rnd = new SplittableRandom(29);
            Tensor x = Rand.normal32(rnd, 1, 5, 64);
            Tensor w32 = Rand.normal32(rnd, 1, 9, 64);
            for (DType h : new DType[] {DType.BF16, DType.F16}) {
                Tensor wq = Casts.to(w32, h);
                Tensor decoded = Casts.to(wq, DType.F32);
                ai.kestrel.kernels.quant.WeightFormat f = Linalg.format(h);
                Tensor xr = Tensor.of(ai.kestrel.kernels.quant.HalfRounding.round(f, x.toFloatArray(), 5, 64), 5, 64);
                float[] ggml = Linalg.linear(x, wq, null, Numerics.GGML).toFloatArray();
                float[] many;
                try (var ng = Autograd.noGrad()) {
                    many = Linalg.linearMany(Numerics.GGML, x, wq, wq)[1].toFloatArray();
                }
                float[] rounded = Linalg.linear(xr, decoded, null).toFloatArray();
                float[] plain = Linalg.linear(x, wq, null, Numerics.TRANSFORMERS).toFloatArray();
                float[] exact = Linalg.linear(x, decoded, null).toFloatArray();
                double moved = 0;
                for (int i = 0; i < ggml.length; i++) {
                    assertTrue(Math.abs(ggml[i] - rounded[i]) < 1e-5, h + " element " + i + ": " + ggml[i] + " vs " + rounded[i]);
                    assertTrue(Math.abs(many[i] - rounded[i]) < 1e-5, h + " linearMany element " + i + ": " + many[i] + " vs " + rounded[i]);
                    assertTrue(Math.abs(plain[i] - exact[i]) < 1e-5, h + " float32 input, element " + i);
                    moved = Math.max(moved, Math.abs(ggml[i] - plain[i]));
                }
                assertTrue(moved > 1e-4, h + ": the rounding shows: " + moved);
                gradientPassesStraightThrough(rnd, wq, decoded, Numerics.GGML, h + " (ggml)");
            }
        }
    }

    /**
     * Float64 central differences through frozen BF16, F16 and NF4 weights (a QLoRA or half-precision base, decoded
     * exactly for F64 input, x not rounded): x and the bias in {@link Linalg#linear}, x, y in {@link Linalg#addLinear},
     * and x, h and u in {@link Linalg#linearPair}. (Q8_0 weights, and {@link Numerics#GGML}, round x: the gradient
     * passes that rounding straight through, which central differences cannot see; see the tests above.)
     */
    @Test
    void frozenHalfAndNf4WeightsInFloat64() {
        try (Scope s = Scope.open()) {
            SplittableRandom rnd = new SplittableRandom(30);
            Tensor w32 = Rand.normal32(rnd, 0.5, 9, 64);
            for (DType q : new DType[] {DType.BF16, DType.F16, DType.NF4}) {
                Tensor wq = Casts.to(w32, q);
                Tensor x = Rand.normal64(rnd, 1, 2, 3, 64).requiresGrad(true);
                Tensor bias = Rand.normal64(rnd, 1, 9).requiresGrad(true);
                Tensor y = Rand.normal64(rnd, 1, 2, 3, 9).requiresGrad(true);
                Tensor h = Rand.normal64(rnd, 1, 2, 3, 4).requiresGrad(true);
                Tensor u = Rand.normal64(rnd, 1, 9, 4).requiresGrad(true);
                GradCheck.of("linear over frozen " + q).run(in -> Linalg.linear(in[0], wq, in[1], Numerics.TRANSFORMERS), x, bias);
                GradCheck.of("addLinear over frozen " + q).run(in -> Linalg.addLinear(in[0], in[1], wq), y, x);
                GradCheck.of("linearPair over frozen " + q).run(in -> Linalg.linearPair(in[0], wq, in[1], in[2], Numerics.TRANSFORMERS),
                        x, h, u);
                assertNull(wq.grad());
            }
        }
    }

    /** x's gradient through the frozen weight {@code wq} equals its gradient through {@code decoded}, its float32 values. */
    private static void gradientPassesStraightThrough(SplittableRandom rnd, Tensor wq, Tensor decoded, Numerics numerics, String what) {
        Tensor xg = Rand.normal32(rnd, 1, 5, 64).requiresGrad(true);
        Autograd.backward(Arith.sum(Linalg.linear(xg, wq, null, numerics)));
        Tensor xd = Tensor.of(xg.toFloatArray(), 5, 64).requiresGrad(true);
        Autograd.backward(Arith.sum(Linalg.linear(xd, decoded, null)));
        float[] ga = xg.grad().toFloatArray();
        float[] gb = xd.grad().toFloatArray();
        for (int i = 0; i < ga.length; i++) {
            assertTrue(Math.abs(ga[i] - gb[i]) < 1e-4, what + " grad " + i);
        }
    }

    @Test
    void castsRoundTripAndRefuseGradientsThroughQuantization() {
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.of(new float[] {1.5f, -2.25f, 3f, 0.125f}, 2, 2);
            assertArrayEquals(x.toFloatArray(), Casts.to(Casts.to(x, DType.BF16), DType.F32).toFloatArray());
            assertArrayEquals(x.toFloatArray(), Casts.to(Casts.to(x, DType.F64), DType.F32).toFloatArray());
            Tensor p = Tensor.of(new float[] {1, 2}, 2).requiresGrad(true);
            assertThrows(IllegalArgumentException.class, () -> Casts.to(p, DType.BF16));
            SplittableRandom rnd = new SplittableRandom(24);
            Tensor d = Rand.normal64(rnd, 1, 3).requiresGrad(true);
            GradCheck.of("cast f64->f64").run(in -> Casts.to(in[0], DType.F64), d);
        }
    }

    @Test
    void shapeErrorsNameTheOperand() {
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.zeros(DType.F32, 2, 5);
            Tensor w = Tensor.zeros(DType.F32, 3, 4);
            var e = assertThrows(IllegalArgumentException.class, () -> Linalg.linear(x, w, null));
            assertTrue(e.getMessage().contains("linear: input must end in a dimension of 4"), e.getMessage());
        }
    }
}
