package ai.kestrel.model.falconh1;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.kestrel.engine.DType;
import ai.kestrel.engine.ops.Numerics;
import ai.kestrel.model.generate.Sampler;
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

    /**
     * Every variant within the README's tolerance; and Q8_0 as llama.cpp computes it: with the activations rounded
     * as ggml rounds them, a position's logits match to float rounding (1e-4) until a value that lies on a rounding
     * boundary goes the other way (a later position may then differ by the README's 1.5e-2 of the largest logit).
     * Without the rounding no position comes within 1e-4 (every one was 0.1-0.25 off); with it, 74 of the 122
     * positions (2026-12-01; the first goes the other way at positions 6, 11, none and 25 of the four prompts).
     */
    @Test
    void everyGgufVariantMatchesLlamaCpp() throws IOException {
        int exact = 0;
        int positions = 0;
        for (String m : List.of("falcon-h1-g1", "falcon-h1-g2")) {
            Fixture f = Fixture.of(m);
            for (String variant : Fixture.VARIANTS) {
                try (FalconH1 model = FalconH1Loader.fromGguf(f.file("model-" + variant + ".gguf"))) {
                    for (Fixture.Prompt p : f.prompts(variant)) {
                        float[][] got = model.logits(p.inputIds());
                        Fixture.compare(m + " " + variant + " " + p.name(), p.logits(), got, Fixture.tolerance(variant, Fixture.maxAbs(p.logits())));
                        if (variant.equals("q8_0")) {
                            exact += Fixture.positionsWithin(p.logits(), got, 1e-4);
                            positions += got.length;
                        }
                    }
                }
            }
        }
        System.out.printf("Falcon-H1 q8_0: %d of %d positions within 1e-4 of llama.cpp%n", exact, positions);
        assertTrue(exact * 4 >= positions, exact + " of " + positions + " q8_0 positions within 1e-4 of llama.cpp");
    }

    /**
     * The 16-bit and Q8_0 GGUFs as llama.cpp computes them ({@link Numerics#GGML}: each product's input rounded to the
     * weight's type): positions whose every logit is within 1e-4 of llama.cpp's, against the same files computed with
     * float32 inputs ({@link Numerics#TRANSFORMERS}), per variant.
     */
    @Test
    void ggufProductsRoundTheirInputAsLlamaCppDoes() throws IOException {
        Fixture.Agreement a = Fixture.agreement(List.of("falcon-h1-g1", "falcon-h1-g2"), FalconH1Loader::fromGguf);
        System.out.println("Falcon-H1 " + a);
        // 2026-12-02 (8 float lanes): f16 50 / 0, bf16 104 / 0, q8_0 74 / 74 of 122 (see everyGgufVariantMatchesLlamaCpp
        // for where the others go the other way); with float32 inputs no 16-bit position came within 1e-4. With 16
        // lanes (AVX-512; the vector reductions of the norms, attention and scans add in another order) bf16 85 / 0,
        // the others the same: the bound is set below both
        a.require("f16", 1.0 / 3, true);
        a.require("bf16", 0.65, true);
        a.require("q8_0", 0.5, false);
    }

    /**
     * A KV cache in F16 (llama.cpp's default type): each cached step's logits stay within 5e-4 of the largest logit of
     * those an F32 cache gives, they do differ (the keys and values are rounded), greedy picks whose margin is wider
     * than that agree, and the cache's keys and values take half the bytes.
     */
    @Test
    void aHalfPrecisionKvCacheStaysCloseToFloat32() throws IOException {
        for (String m : List.of("falcon-h1-g1", "falcon-h1-g2")) {
            Fixture f = Fixture.of(m);
            try (FalconH1 model = FalconH1Loader.fromHuggingFace(f.dir)) {
                for (Fixture.Prompt p : f.prompts("f32")) {
                    model.setKvCacheType(DType.F32);
                    float[][] full = Fixture.cachedStepLogits(model, p.inputIds(), p.greedy());
                    model.setKvCacheType(DType.F16);
                    float[][] half = Fixture.cachedStepLogits(model, p.inputIds(), p.greedy());
                    double tol = 5e-4 * Fixture.maxAbs(full); // 2026-12-02: 1.5e-3 to 2.7e-3 of largest logits 17-20
                    String what = m + " " + p.name() + " F16 cache";
                    Fixture.compare(what, full, half, tol);
                    assertTrue(Fixture.positionsWithin(full, half, 0) < full.length, what + ": no step differs from the F32 cache's");
                    for (int s = 0; s < half.length; s++) {
                        if (p.greedyMargin()[s + 1] > 2 * tol) {
                            assertEquals(p.greedy()[s + 1], Sampler.argmax(half[s], f.nVocab()), what + ": greedy id of step " + s);
                        }
                    }
                }
                try (FalconH1Cache cache = model.newCache(2, 40)) {
                    assertEquals(DType.F16, cache.keys[0].dtype());
                    assertEquals(DType.F16, cache.values[model.numLayers() - 1].dtype());
                    model.setKvCacheType(DType.F32);
                    try (FalconH1Cache wide = model.newCache(2, 40)) {
                        assertEquals(2 * cache.keys[0].storage().byteSize(), wide.keys[0].storage().byteSize());
                    }
                }
                var e = assertThrows(IllegalArgumentException.class, () -> model.setKvCacheType(DType.BF16));
                assertEquals("a KV cache holds F32 or F16 values, not BF16", e.getMessage());
            }
        }
    }
}
