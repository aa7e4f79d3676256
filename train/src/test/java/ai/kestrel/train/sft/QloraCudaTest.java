package ai.kestrel.train.sft;

import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.kestrel.engine.Device;
import ai.kestrel.engine.Scope;
import ai.kestrel.model.Quantizer;
import ai.kestrel.model.falconh1.FalconH1;
import ai.kestrel.model.falconh1.FalconH1Loader;
import ai.kestrel.model.lora.Lora;
import ai.kestrel.model.lora.LoraConfig;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIf;

/** QLoRA on the GPU: the same NF4 base, adapter and data give the CPU's losses and the CPU's trained factors. */
@Tag("cuda")
@EnabledIf(value = "ai.kestrel.kernels.cuda.Cuda#available", disabledReason = "no CUDA device (Cuda.unavailableReason() says which part is missing)")
class QloraCudaTest {
    @Test
    void qloraStepsOnTheGpuGiveTheCpusLosses() throws IOException {
        Path dir = Path.of(System.getProperty("kestrel.testdata"), "fixtures", "falcon-h1-g1");
        List<LoraTrainer.Example> data = List.of(LoraTrainerTest.example(1), LoraTrainerTest.example(2));
        LoraConfig cfg = new LoraConfig(4, 8, 0.1, LoraConfig.FALCON_H1_TARGETS, false);
        LoraTrainer.Settings settings = new LoraTrainer.Settings(1e-2, new Schedule.Constant(0), 2, 1, 1.0, 0, 0);
        double[][] losses = new double[2][3];
        float[][] factors = new float[2][];
        for (int run = 0; run < 2; run++) {
            try (FalconH1 cpu = FalconH1Loader.fromHuggingFace(dir); Scope nf4 = Quantizer.quantizeInMemory(cpu);
                 Lora lora0 = Lora.create(cpu, cfg, 3)) {
                FalconH1 model = run == 0 ? cpu : cpu.to(Device.CUDA);
                Lora lora = run == 0 ? lora0 : lora0.to(Device.CUDA);
                try (LoraTrainer tr = new LoraTrainer(model, lora, settings)) {
                    for (int s = 0; s < 3; s++) {
                        losses[run][s] = tr.step(data).loss();
                    }
                    factors[run] = lora.parameters().values().iterator().next().toFloatArray();
                } finally {
                    if (run == 1) {
                        lora.close();
                        model.close();
                    }
                }
            }
        }
        for (int s = 0; s < 3; s++) {
            assertEquals(losses[0][s], losses[1][s], 1e-3 * Math.max(1, Math.abs(losses[0][s])), "loss of step " + s);
        }
        for (int i = 0; i < factors[0].length; i++) {
            // a tenth of one step's size (lr 1e-2): AdamW normalises each gradient, so a tiny gradient computed with
            // BF16-rounded activations on the GPU (out_proj stays BF16) can move its parameter by a visibly different amount
            assertEquals(factors[0][i], factors[1][i], 1e-3, "first factor, element " + i);
        }
    }
}
