package ai.kestrel.model.falconmamba;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.kestrel.engine.Autograd;
import ai.kestrel.engine.GradCheck;
import ai.kestrel.engine.Scope;
import ai.kestrel.engine.Tensor;
import ai.kestrel.engine.ops.Losses;
import ai.kestrel.engine.ops.Shapes;
import ai.kestrel.model.testing.Fixture;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Gradients through a whole Falcon-Mamba (the fixture): the next-token loss checked in float64 against every weight
 * of the first and the last layer, without activation checkpointing and with it; and in float32 checkpointing gives
 * the same gradients bit for bit at a lower peak of memory.
 */
class FalconMambaGradTest {
    private static final int[] IDS = {4, 9, 13, 2, 7, 11, 5, 30, 8};

    private static Tensor loss(FalconMamba model, int[] ids) {
        Tensor logits = model.forward(Tensor.ofInts(ids, 1, ids.length), null);
        int v = logits.dim(2);
        int[] next = new int[ids.length - 1];
        System.arraycopy(ids, 1, next, 0, next.length);
        next[2] = -100; // an ignored position
        return Losses.crossEntropy(Shapes.narrow(logits, 1, 0, ids.length - 1).view(ids.length - 1, v), Tensor.ofInts(next, next.length));
    }

    private static List<Tensor> weights(FalconMamba model, int... layers) {
        List<Tensor> w = new ArrayList<>();
        for (int i : layers) {
            w.addAll(model.layer(i).tensors());
        }
        return w;
    }

    @Test
    void lossGradientsAreRightWithAndWithoutCheckpointing() throws IOException {
        try (FalconMamba base = FalconMambaLoader.fromHuggingFace(Fixture.of("falcon-mamba").dir); Scope s64 = Scope.detached("f64")) {
            FalconMamba model = base.toF64(s64);
            List<Tensor> checked = weights(model, 0, model.numLayers() - 1);
            assertEquals(20, checked.size(), "ten weights a layer, conv bias included");
            for (Tensor t : checked) {
                t.requiresGrad(true);
            }
            for (boolean ck : new boolean[] {false, true}) {
                model.setActivationCheckpointing(ck);
                GradCheck.of("falcon-mamba loss" + (ck ? ", checkpointing" : "")).maxPerInput(6).tolerance(1e-7, 1e-4)
                        .run(in -> loss(model, IDS), checked.toArray(new Tensor[0]));
            }
        }
    }

    @Test
    void checkpointingGivesTheSameGradientsInLessMemory() throws IOException {
        int[] ids = new int[96];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = 3 + (i * 37) % 300;
        }
        try (FalconMamba model = FalconMambaLoader.fromHuggingFace(Fixture.of("falcon-mamba").dir)) {
            List<Tensor> w = weights(model, 0, 1);
            for (Tensor t : w) {
                t.requiresGrad(true);
            }
            float[][][] grads = new float[2][w.size()][];
            double[] losses = new double[2];
            long[] peaks = new long[2];
            for (int ck = 0; ck < 2; ck++) {
                model.setActivationCheckpointing(ck == 1);
                for (Tensor t : w) {
                    t.clearGrad();
                }
                try (Scope step = Scope.open()) {
                    Scope.resetPeak();
                    Tensor l = loss(model, ids);
                    Autograd.backward(l);
                    peaks[ck] = Scope.peakBytes();
                    losses[ck] = l.getDouble(0);
                    for (int k = 0; k < w.size(); k++) {
                        grads[ck][k] = w.get(k).grad().toFloatArray();
                    }
                }
            }
            assertEquals(losses[0], losses[1]);
            for (int k = 0; k < w.size(); k++) {
                assertArrayEquals(grads[0][k], grads[1][k], "weight " + k);
            }
            assertTrue(peaks[1] < peaks[0], "peak bytes with checkpointing " + peaks[1] + ", without " + peaks[0]);
            System.out.println("falcon-mamba fixture, 96 tokens: peak " + peaks[0] + " bytes, " + peaks[1] + " with checkpointing");
        }
    }
}
