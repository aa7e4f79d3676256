package ai.kestrel.model.falconmamba;

import ai.kestrel.model.testing.Fixture;
import java.io.IOException;
import org.junit.jupiter.api.Test;

/** Falcon-Mamba logits against llama.cpp's: the HF folder within 5e-4 (epsilon differs, see the README), GGUFs as Falcon-H1. */
class FalconMambaFixtureTest {
    @Test
    void huggingFaceFolderMatchesLlamaCpp() throws IOException {
        Fixture f = Fixture.of("falcon-mamba");
        try (FalconMamba model = FalconMambaLoader.fromHuggingFace(f.dir)) {
            for (Fixture.Prompt p : f.prompts("f32")) {
                Fixture.compare("falcon-mamba HF " + p.name(), p.logits(), model.logits(p.inputIds()), 5e-4);
            }
        }
    }

    @Test
    void everyGgufVariantMatchesLlamaCpp() throws IOException {
        Fixture f = Fixture.of("falcon-mamba");
        for (String variant : Fixture.VARIANTS) {
            try (FalconMamba model = FalconMambaLoader.fromGguf(f.file("model-" + variant + ".gguf"))) {
                for (Fixture.Prompt p : f.prompts(variant)) {
                    double tol = variant.equals("f32") ? 1e-4 : Fixture.tolerance(variant, Fixture.maxAbs(p.logits()));
                    Fixture.compare("falcon-mamba " + variant + " " + p.name(), p.logits(), model.logits(p.inputIds()), tol);
                }
            }
        }
    }

    /** As Falcon-H1's: the GGUFs computed as llama.cpp computes them agree with it to 1e-4 where float32 inputs do not. */
    @Test
    void ggufProductsRoundTheirInputAsLlamaCppDoes() throws IOException {
        Fixture.Agreement a = Fixture.agreement(java.util.List.of("falcon-mamba"), FalconMambaLoader::fromGguf);
        System.out.println("Falcon-Mamba " + a);
        // 2026-12-02 (8 float lanes): f16 34 / 0, bf16 63 / 0, q8_0 63 / 35 of 63 (the q8_0 file's ssm_dt is F16)
        a.require("f16", 1.0 / 3, true);
        a.require("bf16", 0.75, true);
        a.require("q8_0", 0.75, true);
    }
}
