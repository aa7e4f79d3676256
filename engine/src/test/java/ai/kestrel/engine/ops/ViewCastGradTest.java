package ai.kestrel.engine.ops;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;

import ai.kestrel.engine.Autograd;
import ai.kestrel.engine.DType;
import ai.kestrel.engine.GradCheck;
import ai.kestrel.engine.Rand;
import ai.kestrel.engine.Scope;
import ai.kestrel.engine.Tensor;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** Central-difference checks of the two ops that only move or convert values: {@code view} and {@code cast}. */
class ViewCastGradTest {
    /**
     * A view between non-linear ops, so a gradient handed back in the wrong order or shape changes the result: x
     * (2, 3, 4) viewed as (6, 4) and (4, 6) (rank changed, -1 inferred), each times a weight of its own shape.
     */
    @Test
    void viewBetweenNonLinearOps() {
        long seed = 31;
        try (Scope s = Scope.open()) {
            SplittableRandom rnd = new SplittableRandom(seed);
            Tensor x = Rand.normal64(rnd, 1, 2, 3, 4).requiresGrad(true);
            Tensor w1 = Rand.normal64(rnd, 1, 6, 4);
            Tensor w2 = Rand.normal64(rnd, 1, 4, 6).requiresGrad(true);
            GradCheck.of("view seed=" + seed + " (2,3,4)->(6,4), (4,6)").run(in -> {
                Tensor a = Arith.mul(Activations.silu(in[0].view(-1, 4)), in[1]);
                Tensor b = Arith.mul(Activations.silu(a.view(4, -1)), in[2]);
                return Activations.softplus(b.view(2, 12));
            }, x, w1, w2);
        }
    }

    /**
     * F64 -> F32 -> F64 around a float32 op: the gradient reaches the float64 input converted back, in float64.
     * Central differences over float32 rounding need a wide step (1e-3) and tolerance (2e-3 relative).
     */
    @Test
    void castThroughFloat32() {
        long seed = 32;
        try (Scope s = Scope.open()) {
            SplittableRandom rnd = new SplittableRandom(seed);
            Tensor x = Rand.normal64(rnd, 1, 3, 17).requiresGrad(true);
            Tensor w = Rand.normal64(rnd, 1, 3, 17).requiresGrad(true);
            GradCheck.of("cast seed=" + seed + " f64->f32->f64 (3,17)").step(1e-3).tolerance(1e-4, 2e-3)
                    .run(in -> Arith.mul(Casts.to(Activations.silu(Casts.to(in[0], DType.F32)), DType.F64), in[1]), x, w);

            // the analytic gradient of sum(cast(silu(cast(x)))) is silu'(x) in float64, element by element
            x.clearGrad();
            Autograd.backward(Arith.sum(Casts.to(Activations.silu(Casts.to(x, DType.F32)), DType.F64)));
            assertSame(DType.F64, x.grad().dtype());
            double[] xv = x.toDoubleArray();
            double[] g = x.grad().toDoubleArray();
            for (int i = 0; i < xv.length; i++) {
                double sig = 1 / (1 + Math.exp(-xv[i]));
                assertEquals(sig * (1 + xv[i] * (1 - sig)), g[i], 1e-5, "cast seed=" + seed + " (3,17): d/dx element " + i);
            }
        }
    }

    /** Stored weight dtypes decode to float64 through their float32 decoding: the same values (whole-model gradient checks). */
    @Test
    void storedDtypesDecodeToFloat64() {
        try (Scope s = Scope.open()) {
            Tensor x = Rand.normal32(new SplittableRandom(5), 3, 128);
            for (DType d : new DType[] {DType.BF16, DType.F16, DType.Q8_0, DType.NF4}) {
                Tensor stored = Casts.to(x, d);
                Tensor f64 = Casts.to(stored, DType.F64);
                assertEquals(DType.F64, f64.dtype());
                float[] f32 = Casts.to(stored, DType.F32).toFloatArray();
                double[] v = f64.toDoubleArray();
                for (int k = 0; k < f32.length; k++) {
                    assertEquals(f32[k], v[k], 0.0, d + " element " + k);
                }
            }
        }
    }
}
