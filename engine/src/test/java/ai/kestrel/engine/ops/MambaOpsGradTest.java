package ai.kestrel.engine.ops;

import ai.kestrel.engine.GradCheck;
import ai.kestrel.engine.Rand;
import ai.kestrel.engine.Scope;
import ai.kestrel.engine.Tensor;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** Gradient checks of the Mamba building blocks: conv1d and the Mamba-1 selective scan. */
class MambaOpsGradTest {
    @Test
    void conv1dWithBiasAndInitialState() {
        try (Scope s = Scope.open()) {
            SplittableRandom rnd = new SplittableRandom(41);
            Tensor x = Rand.normal64(rnd, 1, 2, 5, 3).requiresGrad(true);
            Tensor w = Rand.normal64(rnd, 1, 3, 4).requiresGrad(true);
            Tensor b = Rand.normal64(rnd, 1, 3).requiresGrad(true);
            Tensor st = Rand.normal64(rnd, 1, 2, 3, 3).requiresGrad(true);
            GradCheck.of("conv1d").run(in -> Conv1d.causal(in[0], in[1], in[2], in[3]).y(), x, w, b, st);
            GradCheck.of("conv1d no bias/state").run(in -> Conv1d.causal(in[0], in[1], null), x, w);
        }
    }

    @Test
    void selectiveScanEveryInput() {
        try (Scope s = Scope.open()) {
            SplittableRandom rnd = new SplittableRandom(42);
            int b = 2, t = 4, din = 3, n = 2;
            Tensor x = Rand.normal64(rnd, 1, b, t, din).requiresGrad(true);
            Tensor dt = Rand.uniform64(rnd, -2, 1.5, b, t, din).requiresGrad(true);
            Tensor dtBias = Rand.normal64(rnd, 0.3, din).requiresGrad(true);
            Tensor a = Rand.uniform64(rnd, -1.5, -0.2, din, n).requiresGrad(true);
            Tensor bm = Rand.normal64(rnd, 1, b, t, n).requiresGrad(true);
            Tensor cm = Rand.normal64(rnd, 1, b, t, n).requiresGrad(true);
            Tensor d = Rand.normal64(rnd, 1, din).requiresGrad(true);
            Tensor h0 = Rand.normal64(rnd, 1, b, din, n).requiresGrad(true);
            GradCheck.of("selectiveScan").run(in -> SelectiveScans.scan(in[0], in[1], in[2], in[3], in[4], in[5], in[6], in[7]).y(),
                    x, dt, dtBias, a, bm, cm, d, h0);
        }
    }

    /**
     * Every input, with groups. Float64 runs the sequential reference kernel, which ignores the chunk length; the
     * chunked float32 kernel's gradients are compared with it in {@code SsdScanTest}, partial chunks included.
     */
    @Test
    void ssdEveryInputWithGroups() {
        try (Scope s = Scope.open()) {
            SplittableRandom rnd = new SplittableRandom(43);
            int b = 2, t = 5, h = 4, p = 2, g = 2, n = 3;
            Tensor x = Rand.normal64(rnd, 1, b, t, h, p).requiresGrad(true);
            Tensor dt = Rand.uniform64(rnd, -2, 1.5, b, t, h).requiresGrad(true);
            Tensor dtBias = Rand.normal64(rnd, 0.3, h).requiresGrad(true);
            Tensor a = Rand.uniform64(rnd, -1.5, -0.2, h).requiresGrad(true);
            Tensor bm = Rand.normal64(rnd, 0.6, b, t, g, n).requiresGrad(true);
            Tensor cm = Rand.normal64(rnd, 0.6, b, t, g, n).requiresGrad(true);
            Tensor d = Rand.normal64(rnd, 1, h).requiresGrad(true);
            Tensor s0 = Rand.normal64(rnd, 1, b, h, p, n).requiresGrad(true);
            GradCheck.of("ssd").run(in -> Ssd.scan(in[0], in[1], in[2], in[3], in[4], in[5], in[6], in[7], 2).y(),
                    x, dt, dtBias, a, bm, cm, d, s0);
        }
    }
}
