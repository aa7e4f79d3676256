package ai.kestrel.model.falconh1;

import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.kestrel.engine.Scope;
import ai.kestrel.engine.Tensor;
import ai.kestrel.model.config.FalconH1Config;
import ai.kestrel.model.lora.Lora;
import ai.kestrel.model.lora.LoraConfig;
import ai.kestrel.model.testing.Fixture;
import java.io.IOException;
import org.junit.jupiter.api.Test;

/**
 * {@link FalconH1#setKeepProducts}: with checkpointing, a training forward pass keeps exactly the frozen base's nine
 * products per layer (in_proj, q, k, v, o, out_proj, gate, up, down), and not the adapter's. (That the gradients
 * are unchanged is LoraTrainerTest's.)
 */
class KeepProductsTest {
    @Test
    void aForwardPassKeepsEveryBaseProductOfEveryLayer() throws IOException {
        int[] ids = {4, 9, 13, 2, 7, 11, 5};
        try (FalconH1 model = FalconH1Loader.fromHuggingFace(Fixture.of("falcon-h1-g1").dir);
             Lora lora = Lora.create(model, new LoraConfig(2, 4, 0, LoraConfig.FALCON_H1_TARGETS, false), 1)) {
            model.setAdapter(lora);
            model.setActivationCheckpointing(true);
            long[] held = new long[2];
            for (int keep = 0; keep < 2; keep++) {
                model.setKeepProducts(keep == 1);
                try (Scope step = Scope.open()) {
                    long before = Scope.liveBytes();
                    Tensor logits = model.forward(Tensor.ofInts(ids, 1, ids.length), null);
                    held[keep] = Scope.liveBytes() - before;
                    assertEquals(true, logits.requiresGrad());
                }
            }
            model.setAdapter(null);
            FalconH1Config c = model.config();
            long widths = 2L * c.dSsm() + 2L * c.mambaGroups() * c.mambaDState() + c.mambaHeads() // in_proj
                    + (long) (c.numAttentionHeads() + 2 * c.numKeyValueHeads()) * c.headDim() // q, k, v
                    + 2L * c.hiddenSize() // o_proj, out_proj
                    + 2L * c.intermediateSize() + c.hiddenSize(); // gate, up, down
            assertEquals(ids.length * widths * Float.BYTES * c.numLayers(), held[1] - held[0]);
        }
    }
}
