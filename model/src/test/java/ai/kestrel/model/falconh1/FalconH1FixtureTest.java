package ai.kestrel.model.falconh1;

import ai.kestrel.model.testing.Fixture;
import java.io.IOException;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Falcon-H1 logits against llama.cpp's, from the Hugging Face folder and from every GGUF variant. */
class FalconH1FixtureTest {
    @Test
    void huggingFaceFolderMatchesLlamaCppF32() throws IOException {
        for (String m : List.of("falcon-h1-g1", "falcon-h1-g2")) {
            Fixture f = Fixture.of(m);
            try (FalconH1 model = FalconH1Loader.fromHuggingFace(f.dir)) {
                for (Fixture.Prompt p : f.prompts("f32")) {
                    Fixture.compare(m + " HF " + p.name(), p.logits(), model.logits(p.inputIds()), 1e-4);
                }
            }
        }
    }

    @Test
    void everyGgufVariantMatchesLlamaCpp() throws IOException {
        for (String m : List.of("falcon-h1-g1", "falcon-h1-g2")) {
            Fixture f = Fixture.of(m);
            for (String variant : Fixture.VARIANTS) {
                try (FalconH1 model = FalconH1Loader.fromGguf(f.file("model-" + variant + ".gguf"))) {
                    for (Fixture.Prompt p : f.prompts(variant)) {
                        Fixture.compare(m + " " + variant + " " + p.name(), p.logits(), model.logits(p.inputIds()), Fixture.tolerance(variant, Fixture.maxAbs(p.logits())));
                    }
                }
            }
        }
    }
}
