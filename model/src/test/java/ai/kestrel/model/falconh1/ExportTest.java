package ai.kestrel.model.falconh1;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.kestrel.engine.DType;
import ai.kestrel.model.LoadedModel;
import ai.kestrel.model.ModelLoader;
import ai.kestrel.model.config.FalconH1Config;
import ai.kestrel.model.generate.Generator;
import ai.kestrel.model.testing.Fixture;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The GGUF export folds every muP multiplier the way llama.cpp's converter does: the same random weights
 * written as a Hugging Face folder (multipliers applied at run time) and as GGUF (folded) give the same logits.
 */
class ExportTest {
    @Test
    void presetConfigsKeepIntegersIntegers() throws IOException {
        for (String preset : ai.kestrel.model.config.FalconH1Config.PRESETS) {
            String json = FalconH1Init.configJson(preset);
            org.junit.jupiter.api.Assertions.assertTrue(json.matches("(?s).*\"hidden_size\": \\d+,.*"), preset + ": " + json);
            org.junit.jupiter.api.Assertions.assertFalse(json.matches("(?s).*\"(hidden_size|vocab_size|num_hidden_layers)\": \\d+\\.0.*"), json);
        }
    }

    @Test
    void foldedGgufComputesWhatTheHuggingFaceFolderComputes(@TempDir Path dir) throws IOException {
        for (String fixture : new String[] {"falcon-h1-g1", "falcon-h1-g2"}) {
            Path cfgFile = Fixture.of(fixture).file("config.json");
            FalconH1Config c = FalconH1Config.fromJson(cfgFile);
            var values = FalconH1Init.values(c, 7);
            Path hf = dir.resolve(fixture + "-hf");
            FalconH1Export.writeHuggingFace(hf, c, Files.readString(cfgFile), values, DType.F32,
                    Map.of("tokenizer.json", FalconH1Init.tokenizerJson(c.vocabSize()), "tokenizer_config.json", FalconH1Init.tokenizerConfigJson()));
            Path gguf = dir.resolve(fixture + ".gguf");
            FalconH1Export.writeGguf(gguf, c, values, DType.F32, w -> w, "test");
            int[] ids = {1, 50, 60, 70, 80, 90, 100, 110, 120, 130, 140, 150, 160, 170, 180, 190, 200, 210, 220, 230, 240};
            try (FalconH1 a = FalconH1Loader.fromHuggingFace(hf); FalconH1 b = FalconH1Loader.fromGguf(gguf)) {
                float[][] la = a.logits(ids);
                double scale = Fixture.maxAbs(la);
                assertTrue(scale > 1e-3, "logits must not be vanishingly small: " + scale);
                Fixture.compare(fixture + " random weights, HF vs folded GGUF (max |logit| " + scale + ")", la, b.logits(ids), 1e-5 * scale);
            }
        }
    }

    @Test
    void randomModelFolderWorksEndToEnd(@TempDir Path dir) throws IOException {
        FalconH1Config c = FalconH1Config.fromJson(Fixture.of("falcon-h1-g1").file("config.json"));
        Path hf = dir.resolve("m");
        FalconH1Export.writeHuggingFace(hf, c, Files.readString(Fixture.of("falcon-h1-g1").file("config.json")), FalconH1Init.values(c, 1),
                DType.BF16, Map.of("tokenizer.json", FalconH1Init.tokenizerJson(c.vocabSize()), "tokenizer_config.json", FalconH1Init.tokenizerConfigJson()));
        try (LoadedModel m = ModelLoader.load(hf)) {
            String text = "Grüße, 世界!";
            assertEquals(text, m.tokenizer().decode(m.tokenizer().encode(text)));
            assertArrayEquals(new int[] {2}, m.tokenizer().encode("<|im_start|>"));
            assertTrue(m.eosIds().contains(11));
            Generator.Result r = Generator.generate(m.model(), m.tokenizer(), m.tokenizer().encode("Hello"),
                    Generator.Options.greedy(8, Set.of()), null);
            assertEquals(8, r.ids().length);
            assertTrue(m.chatTemplate().render(java.util.List.of(new ai.kestrel.model.tokenizer.ChatTemplate.Message("user", "x")), true)
                    .startsWith("<|begin_of_text|><|im_start|>user\nx"));
        }
    }

    /**
     * llama.cpp refuses a GGUF whose token list is shorter than the embedding ("token_embd.weight has wrong shape"):
     * the synthetic tokenizer is padded with placeholders to the configured vocabulary, in both forms.
     */
    @Test
    void syntheticTokenizerCoversTheWholeVocabulary(@TempDir Path dir) throws IOException {
        Path cfgFile = Fixture.of("falcon-h1-g1").file("config.json");
        FalconH1Config c = FalconH1Config.fromJson(cfgFile);
        Path gguf = dir.resolve("m.gguf");
        FalconH1Export.writeGguf(gguf, c, FalconH1Init.values(c, 3), DType.BF16, FalconH1Init.ggufTokenizer(c.vocabSize()), "test");
        Path hf = dir.resolve("m");
        FalconH1Export.writeHuggingFace(hf, c, Files.readString(cfgFile), FalconH1Init.values(c, 3), DType.BF16,
                Map.of("tokenizer.json", FalconH1Init.tokenizerJson(c.vocabSize()), "tokenizer_config.json", FalconH1Init.tokenizerConfigJson()));
        try (ai.kestrel.engine.Scope s = ai.kestrel.engine.Scope.open()) {
            ai.kestrel.engine.io.Gguf g = ai.kestrel.engine.io.Gguf.open(gguf, s);
            assertEquals(c.vocabSize(), g.getList("tokenizer.ggml.tokens").size());
            assertEquals(c.vocabSize(), g.getList("tokenizer.ggml.token_type").size());
            assertEquals(c.vocabSize(), g.shape("token_embd.weight")[0], "embedding rows");
        }
        for (Path p : new Path[] {gguf, hf}) {
            try (LoadedModel m = ModelLoader.load(p)) {
                var t = m.tokenizer();
                assertEquals(c.vocabSize(), t.size(), p.toString());
                int last = c.vocabSize() - 1;
                assertEquals("<|unused_" + last + "|>", t.token(last), p.toString());
                String text = "Grüße <|unused_300|> 世界";
                int[] ids = t.encode(text);
                assertEquals(text, t.decode(ids), p.toString());
                for (int id : ids) {
                    assertTrue(id < 12 + 256, "placeholders are never produced by encoding: " + id + " in " + p);
                }
            }
        }
    }
}
