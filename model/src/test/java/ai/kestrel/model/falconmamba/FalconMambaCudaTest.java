package ai.kestrel.model.falconmamba;

import ai.kestrel.engine.Device;
import ai.kestrel.model.testing.Fixture;
import java.io.IOException;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIf;

/** The Falcon-Mamba fixture on the GPU: llama.cpp's logits from every variant, and its cached step logits. */
@Tag("cuda")
@EnabledIf(value = "ai.kestrel.kernels.cuda.Cuda#available", disabledReason = "no CUDA device (Cuda.unavailableReason() says which part is missing)")
class FalconMambaCudaTest {
    @Test
    void everyVariantMatchesLlamaCppOnTheGpu() throws IOException {
        Fixture f = Fixture.of("falcon-mamba");
        try (FalconMamba cpu = FalconMambaLoader.fromHuggingFace(f.dir); FalconMamba gpu = cpu.to(Device.CUDA)) {
            for (Fixture.Prompt p : f.prompts("f32")) {
                Fixture.compare("falcon-mamba HF on the GPU " + p.name(), p.logits(), gpu.logits(p.inputIds()), 1e-3);
            }
        }
        for (String variant : Fixture.VARIANTS) {
            try (FalconMamba cpu = FalconMambaLoader.fromGguf(f.file("model-" + variant + ".gguf")); FalconMamba gpu = cpu.to(Device.CUDA)) {
                for (Fixture.Prompt p : f.prompts(variant)) {
                    Fixture.compare("falcon-mamba " + variant + " on the GPU " + p.name(), p.logits(), gpu.logits(p.inputIds()),
                            2 * Fixture.tolerance(variant, Fixture.maxAbs(p.logits())));
                }
            }
        }
    }

    @Test
    void cachedStepsOnTheGpuGiveLlamaCppsStepLogits() throws IOException {
        Fixture f = Fixture.of("falcon-mamba");
        try (FalconMamba cpu = FalconMambaLoader.fromHuggingFace(f.dir); FalconMamba gpu = cpu.to(Device.CUDA)) {
            Fixture.Prompt p = f.prompts("f32").get(0);
            Fixture.compare("falcon-mamba GPU step logits vs llama.cpp", p.stepLogits(), Fixture.cachedStepLogits(gpu, p.inputIds(), p.greedy()), 1e-3);
        }
    }
}
