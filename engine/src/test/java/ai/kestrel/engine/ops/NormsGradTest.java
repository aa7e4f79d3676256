package ai.kestrel.engine.ops;

import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.kestrel.engine.GradCheck;
import ai.kestrel.engine.Rand;
import ai.kestrel.engine.Scope;
import ai.kestrel.engine.Tensor;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class NormsGradTest {
    @Test
    void rmsNorm() {
        try (Scope s = Scope.open()) {
            SplittableRandom rnd = new SplittableRandom(1);
            Tensor x = Rand.normal64(rnd, 1, 2, 3, 7).requiresGrad(true);
            Tensor w = Rand.normal64(rnd, 1, 7).requiresGrad(true);
            double worst = GradCheck.of("rmsNorm").run(in -> Norms.rmsNorm(in[0], in[1], 1e-5), x, w);
            assertTrue(worst < 1e-6, "worst " + worst);
        }
    }

    @Test
    void gatedRmsNormWithGroups() {
        try (Scope s = Scope.open()) {
            SplittableRandom rnd = new SplittableRandom(2);
            Tensor x = Rand.normal64(rnd, 1, 3, 12).requiresGrad(true);
            Tensor z = Rand.normal64(rnd, 1.5, 3, 12).requiresGrad(true);
            Tensor w = Rand.normal64(rnd, 1, 12).requiresGrad(true);
            GradCheck.of("gatedRmsNorm G=3").run(in -> Norms.gatedRmsNorm(in[0], in[1], in[2], 3, 1e-5), x, z, w);
            GradCheck.of("gatedRmsNorm G=1").run(in -> Norms.gatedRmsNorm(in[0], in[1], in[2], 1, 1e-5), x, z, w);
        }
    }

    @Test
    void float32MatchesFloat64() {
        try (Scope s = Scope.open()) {
            SplittableRandom rnd = new SplittableRandom(3);
            Tensor x64 = Rand.normal64(rnd, 1, 5, 33);
            Tensor w64 = Rand.normal64(rnd, 1, 33);
            Tensor x32 = Tensor.of(x64.toFloatArray(), 5, 33);
            Tensor w32 = Tensor.of(w64.toFloatArray(), 33);
            double[] a = Norms.rmsNorm(x64, w64, 1e-5).toDoubleArray();
            double[] b = Norms.rmsNorm(x32, w32, 1e-5).toDoubleArray();
            for (int i = 0; i < a.length; i++) {
                assertTrue(Math.abs(a[i] - b[i]) < 1e-5, "element " + i + ": " + a[i] + " vs " + b[i]);
            }
        }
    }
}
