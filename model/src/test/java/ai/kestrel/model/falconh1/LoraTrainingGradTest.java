package ai.kestrel.model.falconh1;

import ai.kestrel.engine.DType;
import ai.kestrel.engine.GradCheck;
import ai.kestrel.engine.Scope;
import ai.kestrel.engine.Tensor;
import ai.kestrel.engine.ops.Losses;
import ai.kestrel.engine.ops.Shapes;
import ai.kestrel.model.lora.Lora;
import ai.kestrel.model.lora.LoraConfig;
import ai.kestrel.model.testing.Fixture;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The whole LoRA training loss of a fixture Falcon-H1 (forward through every layer, shifted labels with ignored
 * positions, cross-entropy) gradient-checked in float64 against the adapter's factors, without activation
 * checkpointing, with it, and with it keeping the base's products.
 */
class LoraTrainingGradTest {
    @Test
    void trainingLossGradientsAreRight() throws IOException {
        Fixture f = Fixture.of("falcon-h1-g1");
        int[] ids = {4, 9, 13, 2, 7, 11, 5};
        int[] labels = {-100, -100, -100, 2, 7, 11, 5};
        try (FalconH1 base = FalconH1Loader.fromHuggingFace(f.dir); Scope s64 = Scope.detached("f64")) {
            FalconH1 model = base.toF64(s64);
            try (Lora l32 = Lora.create(model, new LoraConfig(1, 2, 0, List.of("q_proj", "in_proj", "down_proj"), false), 3);
                 Lora lora = l32.copyAs(DType.F64)) {
                SplittableRandom rnd = new SplittableRandom(4);
                for (Lora.Factors fa : lora.modules().values()) {
                    MemorySegment b = fa.b().segment();
                    for (long i = 0; i < fa.b().numel(); i++) {
                        b.setAtIndex(ai.kestrel.kernels.Buf.F64, i, rnd.nextGaussian() * 0.1);
                    }
                }
                model.setAdapter(lora);
                // the factors of layer 0 and of the last layer (gradients through the whole stack)
                List<Tensor> checked = new ArrayList<>();
                for (var e : lora.modules().entrySet()) {
                    if (e.getKey().startsWith("model.layers.0.") || e.getKey().startsWith("model.layers." + (model.numLayers() - 1) + ".")) {
                        checked.add(e.getValue().a());
                        checked.add(e.getValue().b());
                    }
                }
                int[] shifted = new int[ids.length - 1];
                for (int k = 1; k < ids.length; k++) {
                    shifted[k - 1] = labels[k];
                }
                for (int mode = 0; mode < 3; mode++) {
                    model.setActivationCheckpointing(mode > 0);
                    model.setKeepProducts(mode == 2); // selective: the base's products kept, the rest recomputed
                    GradCheck.of("LoRA training loss, " + new String[] {"no checkpointing", "checkpointing", "checkpointing keeping the products"}[mode])
                            .maxPerInput(12).tolerance(1e-7, 1e-4)
                            .run(in -> {
                                Tensor logits = model.forward(Tensor.ofInts(ids, 1, ids.length), null);
                                int v = logits.dim(2);
                                Tensor pred = Shapes.narrow(logits, 1, 0, ids.length - 1).view(ids.length - 1, v);
                                return Losses.crossEntropy(pred, Tensor.ofInts(shifted, ids.length - 1));
                            }, checked.toArray(new Tensor[0]));
                }
                model.setActivationCheckpointing(false);
                model.setKeepProducts(false);
                model.setAdapter(null);
            }
        }
    }
}
