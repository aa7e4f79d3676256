package ai.kestrel.model.falconh1;

import static org.junit.jupiter.api.Assertions.fail;

import ai.kestrel.model.testing.Fixture;
import java.io.IOException;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Falcon-H1 logits against llama.cpp's, from the Hugging Face folder and from every GGUF variant. */
class FalconH1FixtureTest {
    static double maxAbs(float[][] rows) {
        double m = 0;
        for (float[] r : rows) {
            for (float v : r) {
                m = Math.max(m, Math.abs(v));
            }
        }
        return m;
    }

    static void compare(String what, float[][] expected, float[][] got, double tol) {
        double worst = 0;
        int at = -1;
        int col = -1;
        for (int t = 0; t < expected.length; t++) {
            for (int v = 0; v < expected[t].length; v++) {
                double d = Math.abs(expected[t][v] - got[t][v]);
                if (d > worst) {
                    worst = d;
                    at = t;
                    col = v;
                }
            }
        }
        if (worst > tol) {
            fail(String.format("%s: max |diff| %.3g > %.3g at position %d, logit %d (expected %.6f, got %.6f)", what, worst, tol, at, col,
                    expected[at][col], got[at][col]));
        }
        System.out.printf("%s: max |diff| %.3g (tolerance %.3g)%n", what, worst, tol);
    }

    /** README tolerances: f32 and HF within 1e-4; 16-bit and Q8_0 relative to the largest logit. */
    static double tolerance(String variant, double maxLogit) {
        return switch (variant) {
            case "f32" -> 1e-4;
            case "f16" -> 5e-4 * maxLogit;
            case "bf16" -> 5e-3 * maxLogit;
            case "q8_0" -> 1.5e-2 * maxLogit;
            default -> throw new IllegalArgumentException(variant);
        };
    }

    @Test
    void huggingFaceFolderMatchesLlamaCppF32() throws IOException {
        for (String m : List.of("falcon-h1-g1", "falcon-h1-g2")) {
            Fixture f = Fixture.of(m);
            try (FalconH1 model = FalconH1Loader.fromHuggingFace(f.dir)) {
                for (Fixture.Prompt p : f.prompts("f32")) {
                    compare(m + " HF " + p.name(), p.logits(), model.logits(p.inputIds()), 1e-4);
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
                        compare(m + " " + variant + " " + p.name(), p.logits(), model.logits(p.inputIds()), tolerance(variant, maxAbs(p.logits())));
                    }
                }
            }
        }
    }
}
