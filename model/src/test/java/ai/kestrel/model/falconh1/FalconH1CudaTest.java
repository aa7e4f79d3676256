package ai.kestrel.model.falconh1;

import ai.kestrel.engine.Device;
import ai.kestrel.model.testing.Fixture;
import java.io.IOException;
import java.util.List;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIf;

/**
 * The Falcon-H1 fixtures on the GPU: llama.cpp's logits from every variant, and cached step logits. The fixtures'
 * Hugging Face weights are BF16, and the GPU multiplies BF16 weights by BF16-rounded activations on tensor cores
 * for more than 16 rows (as PyTorch does): those runs are held to the bf16 tolerance.
 */
@Tag("cuda")
@EnabledIf(value = "ai.kestrel.kernels.cuda.Cuda#available", disabledReason = "no CUDA device (Cuda.unavailableReason() says which part is missing)")
class FalconH1CudaTest {
    @Test
    void everyVariantMatchesLlamaCppOnTheGpu() throws IOException {
        for (String m : List.of("falcon-h1-g1", "falcon-h1-g2")) {
            Fixture f = Fixture.of(m);
            try (FalconH1 cpu = FalconH1Loader.fromHuggingFace(f.dir); FalconH1 gpu = cpu.to(Device.CUDA)) {
                for (Fixture.Prompt p : f.prompts("f32")) {
                    Fixture.compare(m + " HF on the GPU " + p.name(), p.logits(), gpu.logits(p.inputIds()),
                            Fixture.tolerance("bf16", Fixture.maxAbs(p.logits())));
                }
            }
            for (String variant : Fixture.VARIANTS) {
                try (FalconH1 cpu = FalconH1Loader.fromGguf(f.file("model-" + variant + ".gguf")); FalconH1 gpu = cpu.to(Device.CUDA)) {
                    for (Fixture.Prompt p : f.prompts(variant)) {
                        Fixture.compare(m + " " + variant + " on the GPU " + p.name(), p.logits(), gpu.logits(p.inputIds()),
                                2 * Fixture.tolerance(variant, Fixture.maxAbs(p.logits())));
                    }
                }
            }
        }
    }

    @Test
    void cachedStepsOnTheGpuEqualOneFullPass() throws IOException {
        Fixture f = Fixture.of("falcon-h1-g2");
        try (FalconH1 cpu = FalconH1Loader.fromHuggingFace(f.dir); FalconH1 gpu = cpu.to(Device.CUDA)) {
            Fixture.Prompt p = f.prompts("f32").get(0);
            Fixture.compare("falcon-h1-g2 GPU step logits vs llama.cpp", p.stepLogits(), Fixture.cachedStepLogits(gpu, p.inputIds(), p.greedy()),
                    Fixture.tolerance("bf16", Fixture.maxAbs(p.stepLogits())));
        }
    }
}
