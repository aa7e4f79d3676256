package ai.kestrel.kernels.optim;

import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.kestrel.kernels.Buf;
import ai.kestrel.kernels.Twin;
import java.lang.foreign.Arena;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class AdamWTest {
    /** The implementation under test against {@link AdamW#REF}; {@link AdamWCudaTest} runs the same cases on the GPU. */
    AdamW impl() {
        return AdamW.CPU;
    }

    @ParameterizedTest(name = "n={0}")
    @ValueSource(ints = {1, 7, 33, 4097, 200_001})
    void cpuMatchesReferenceOverSteps(int n) {
        try (Arena arena = Arena.ofShared()) {
            SplittableRandom rnd = new SplittableRandom(n);
            Buf pr = Twin.randn(arena, rnd, n), pc = Buf.ofF32(arena, pr.toFloatArray());
            Buf mr = Buf.allocF32(arena, n), mc = Buf.allocF32(arena, n), vr = Buf.allocF32(arena, n), vc = Buf.allocF32(arena, n);
            for (int t = 1; t <= 3; t++) {
                Buf g = Twin.randn(arena, rnd, n);
                AdamW.REF.step(pr, g, mr, vr, n, 1e-2, 0.9, 0.95, 1e-8, 0.1, t);
                impl().step(pc, g, mc, vc, n, 1e-2, 0.9, 0.95, 1e-8, 0.1, t);
                Twin.assertClose("seed=" + n + " n=" + n + " t=" + t + " param", pr, pc, 1e-6, 1e-5);
                Twin.assertClose("seed=" + n + " n=" + n + " t=" + t + " m", mr, mc, 1e-7, 1e-5);
                Twin.assertClose("seed=" + n + " n=" + n + " t=" + t + " v", vr, vc, 1e-7, 1e-5);
                double ss = AdamW.REF.sumSquares(g, n);
                assertEquals(ss, impl().sumSquares(g, n), 1e-5 * ss, "seed=" + n + " n=" + n + " t=" + t + " sumSquares");
            }
        }
    }

    /** A hand-unrolled PyTorch AdamW trace for one parameter, independent of the kernels' code. */
    @Test
    void matchesPyTorchSemanticsByHand() {
        double lr = 0.1, b1 = 0.9, b2 = 0.999, eps = 1e-8, wd = 0.01;
        double p = 1.0, m = 0, v = 0;
        double[] grads = {0.5, -0.25, 1.0};
        try (Arena arena = Arena.ofShared()) {
            Buf pb = Buf.ofF64(arena, 1.0), mb = Buf.allocF64(arena, 1), vb = Buf.allocF64(arena, 1);
            for (int t = 1; t <= 3; t++) {
                double g = grads[t - 1];
                p = p * (1 - lr * wd);
                m = b1 * m + (1 - b1) * g;
                v = b2 * v + (1 - b2) * g * g;
                double bc1 = 1 - Math.pow(b1, t);
                double bc2 = 1 - Math.pow(b2, t);
                // torch/optim/adamw.py (_single_tensor_adamw): denom = sqrt(v) / sqrt(bc2) + eps; p -= lr / bc1 * m / denom
                p = p - lr / bc1 * m / (Math.sqrt(v) / Math.sqrt(bc2) + eps);
                AdamW.REF.step(pb, Buf.ofF64(arena, g), mb, vb, 1, lr, b1, b2, eps, wd, t);
                assertEquals(p, pb.get(0), 1e-9, "step " + t);
            }
            // after step 1 Adam moves by exactly lr * sign(g) (|mhat| / sqrt(vhat) = 1): 1*(1-0.001) - 0.1
            Buf q = Buf.ofF64(arena, 1.0);
            AdamW.REF.step(q, Buf.ofF64(arena, 3.0), Buf.allocF64(arena, 1), Buf.allocF64(arena, 1), 1, lr, b1, b2, 0, wd, 1);
            assertEquals(0.999 - 0.1, q.get(0), 1e-12);
        }
    }
}
