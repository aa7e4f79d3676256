package ai.kestrel.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.kestrel.engine.Scope;
import ai.kestrel.engine.io.BnbNf4;
import ai.kestrel.engine.io.SafeTensors;
import ai.kestrel.model.falconh1.FalconH1;
import ai.kestrel.model.falconh1.FalconH1Loader;
import ai.kestrel.model.testing.Fixture;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class QuantizerTest {
    @Test
    void fourBitFolderLoadsAndStaysCloseToTheOriginal(@TempDir Path tmp) throws IOException {
        for (String m : List.of("falcon-h1-g1", "falcon-h1-g2")) {
            Fixture f = Fixture.of(m);
            Path out = tmp.resolve(m);
            Quantizer.Summary s = Quantizer.quantize(f.dir, out);
            assertTrue(s.quantized() > 0 && s.bytesAfter() < s.bytesBefore(), s.toString());
            assertFalse(Files.exists(out.resolve("model-f32.gguf")), "weights of other formats are not copied");
            assertTrue(Files.exists(out.resolve("tokenizer.json")));

            JsonObject q = JsonParser.parseString(Files.readString(out.resolve("config.json"))).getAsJsonObject()
                    .getAsJsonObject("quantization_config");
            assertEquals("bitsandbytes", q.get("quant_method").getAsString());
            assertEquals("nf4", q.get("bnb_4bit_quant_type").getAsString());
            assertTrue(q.get("bnb_4bit_use_double_quant").getAsBoolean());
            assertEquals("[\"out_proj\",\"lm_head\"]", q.get("llm_int8_skip_modules").toString());

            try (Scope scope = Scope.open()) {
                SafeTensors st = SafeTensors.open(out.resolve("model.safetensors"), scope);
                // (the fixtures' down_proj has in_features not divisible by 64: kept, as the kernels need whole blocks per row)
                for (String mod : List.of("self_attn.q_proj.", "self_attn.o_proj.", "mamba.in_proj.", "feed_forward.up_proj.")) {
                    assertTrue(BnbNf4.isQuantized(st, "model.layers.0." + mod), mod + " is 4-bit");
                }
                assertFalse(BnbNf4.isQuantized(st, "model.layers.0.mamba.out_proj."), "out_proj is never quantized");
                assertTrue(st.tensor("model.layers.0.mamba.out_proj.weight").dtype().isFloating(), "out_proj keeps its stored dtype");
                assertFalse(BnbNf4.isQuantized(st, "model.embed_tokens."));
            }

            // the logits move by the 4-bit rounding, no more
            try (FalconH1 q4 = FalconH1Loader.fromHuggingFace(out)) {
                for (Fixture.Prompt p : f.prompts("f32")) {
                    float[][] got = q4.logits(p.inputIds());
                    double num = 0;
                    double den = 0;
                    for (int t = 0; t < got.length; t++) {
                        for (int v = 0; v < got[t].length; v++) {
                            double d = got[t][v] - p.logits()[t][v];
                            num += d * d;
                            den += (double) p.logits()[t][v] * p.logits()[t][v];
                        }
                    }
                    double rel = Math.sqrt(num / den);
                    assertTrue(rel > 1e-4 && rel < 0.25, m + " " + p.name() + ": relative logit error " + rel);
                }
            }
        }
    }

    @Test
    void refusesWhatItCannotQuantize(@TempDir Path tmp) throws IOException {
        IllegalArgumentException mamba = assertThrows(IllegalArgumentException.class,
                () -> Quantizer.quantize(Fixture.of("falcon-mamba").dir, tmp.resolve("a")));
        assertTrue(mamba.getMessage().contains("falcon_h1"), mamba.getMessage());
        Path out = tmp.resolve("b");
        Quantizer.quantize(Fixture.of("falcon-h1-g1").dir, out);
        IllegalArgumentException twice = assertThrows(IllegalArgumentException.class, () -> Quantizer.quantize(out, tmp.resolve("c")));
        assertTrue(twice.getMessage().contains("already quantized"), twice.getMessage());
        IllegalArgumentException full = assertThrows(IllegalArgumentException.class,
                () -> Quantizer.quantize(Fixture.of("falcon-h1-g1").dir, out));
        assertTrue(full.getMessage().contains("not empty"), full.getMessage());
    }
}
