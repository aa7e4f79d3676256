package ai.kestrel.model.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ConfigTest {
    static Path fixture(String name) {
        String root = System.getProperty("kestrel.testdata");
        if (root == null) {
            throw new IllegalStateException("system property kestrel.testdata is not set (the parent pom sets it for Surefire)");
        }
        Path p = Path.of(root, "fixtures", name, "config.json");
        if (!Files.isRegularFile(p)) {
            throw new IllegalStateException("missing fixture " + p);
        }
        return p;
    }

    @Test
    void fixtureFalconH1() {
        FalconH1Config c = FalconH1Config.fromJson(fixture("falcon-h1-g1"));
        assertEquals(320, c.vocabSize());
        assertEquals(64, c.hiddenSize());
        assertEquals(3, c.numLayers());
        assertEquals(16, c.headDim());
        assertEquals(96, c.dSsm());
        assertEquals(96 + 2 * 16, c.convDim());
        assertEquals(2 * 96 + 2 * 16 + 6, c.inProjSize());
        assertTrue(c.mambaRmsNorm());
        assertEquals(1e11, c.ropeTheta());
        assertEquals(List.of(0.3535533905932738, 0.25, 0.3535533905932738, 0.5, 0.3535533905932738), c.mup().ssm());
        assertEquals(List.of(11), c.eosTokenIds());
        FalconH1Config g2 = FalconH1Config.fromJson(fixture("falcon-h1-g2"));
        assertEquals(2, g2.mambaGroups());
        assertFalse(g2.mambaRmsNorm());
        assertEquals(2 * 128 + 2 * 2 * 16 + 8, g2.inProjSize());
    }

    @Test
    void fixtureFalconMambaTrustsIntermediateSizeOverExpand() {
        FalconMambaConfig c = FalconMambaConfig.fromJson(fixture("falcon-mamba"));
        assertEquals(128, c.intermediateSize()); // the config also says expand: 16, as falcon-mamba-7b does
        assertEquals(6, c.timeStepRank());
        assertEquals(1e-6, c.mixerRmsEps());
        assertEquals(1e-5, c.layerNormEps());
        assertEquals(16, c.stateSize());
    }

    @Test
    void presetsHaveTheRealShapes() {
        FalconH1Config deep = FalconH1Config.preset("falcon-h1-1.5b-deep");
        assertEquals(3608, deep.inProjSize()); // 2*1536 + 2*256 + 24
        assertEquals(66, deep.numLayers());
        assertEquals(128, deep.headDim());
        FalconH1Config half = FalconH1Config.preset("falcon-h1-0.5b");
        assertEquals(32784, half.vocabSize());
        assertEquals(36, half.numLayers());
        assertFalse(half.mambaRmsNorm());
        assertEquals(FalconH1Config.preset("falcon-h1-0.5b"), half);
        var e = assertThrows(ConfigException.class, () -> FalconH1Config.preset("falcon-h1-9b"));
        assertTrue(e.getMessage().contains("falcon-h1-1.5b-deep"), e.getMessage());
    }

    private static String edited(java.util.function.Consumer<JsonObject> edit) throws IOException {
        JsonObject o = JsonParser.parseString(Files.readString(fixture("falcon-h1-g1"))).getAsJsonObject();
        edit.accept(o);
        return o.toString();
    }

    @Test
    void missingFieldNamesFileAndField() throws IOException {
        String json = edited(o -> o.remove("mamba_d_state"));
        var e = assertThrows(ConfigException.class, () -> FalconH1Config.fromJson("my/config.json", json));
        assertEquals("my/config.json: missing field 'mamba_d_state'", e.getMessage());
    }

    @Test
    void mistypedFieldNamesFileFieldAndType() throws IOException {
        String json = edited(o -> o.addProperty("hidden_size", "64"));
        var e = assertThrows(ConfigException.class, () -> FalconH1Config.fromJson("config.json", json));
        assertEquals("config.json: field 'hidden_size' must be an integer, got string \"64\"", e.getMessage());
        String frac = edited(o -> o.addProperty("num_hidden_layers", 2.5));
        assertThrows(ConfigException.class, () -> FalconH1Config.fromJson("config.json", frac));
        String shortList = edited(o -> o.add("ssm_multipliers", JsonParser.parseString("[1, 2]")));
        var e2 = assertThrows(ConfigException.class, () -> FalconH1Config.fromJson("config.json", shortList));
        assertTrue(e2.getMessage().contains("'ssm_multipliers' must hold 5 numbers"), e2.getMessage());
        String bool = edited(o -> o.addProperty("mamba_rms_norm", 1));
        assertThrows(ConfigException.class, () -> FalconH1Config.fromJson("config.json", bool));
    }

    @Test
    void inconsistentShapesAreRejected() throws IOException {
        String json = edited(o -> o.addProperty("mamba_n_heads", 5));
        var e = assertThrows(ConfigException.class, () -> FalconH1Config.fromJson("config.json", json));
        assertTrue(e.getMessage().contains("mamba_n_heads * mamba_d_head"), e.getMessage());
        String wrongType = edited(o -> o.addProperty("model_type", "llama"));
        assertThrows(ConfigException.class, () -> FalconH1Config.fromJson("config.json", wrongType));
    }

    @Test
    void unknownKeysAreTolerated() throws IOException {
        String json = edited(o -> {
            o.addProperty("some_future_knob", true);
            o.add("quantization_config", new JsonObject());
        });
        assertEquals(64, FalconH1Config.fromJson("config.json", json).hiddenSize());
    }

    @Test
    void badBytesAndBadJsonAreClearErrors(@TempDir Path dir) throws IOException {
        Path bad = dir.resolve("config.json");
        Files.write(bad, new byte[] {'{', '"', (byte) 0xC3, (byte) 0x28, '"', ':', '1', '}'});
        var e = assertThrows(ConfigException.class, () -> FalconH1Config.fromJson(bad));
        assertTrue(e.getMessage().endsWith("config.json: not valid UTF-8"), e.getMessage());
        Files.writeString(bad, "{\"hidden_size\": ", StandardCharsets.UTF_8);
        var e2 = assertThrows(ConfigException.class, () -> FalconH1Config.fromJson(bad));
        assertTrue(e2.getMessage().contains("not valid JSON"), e2.getMessage());
        Files.writeString(bad, "[1, 2]", StandardCharsets.UTF_8);
        assertThrows(ConfigException.class, () -> FalconH1Config.fromJson(bad));
        var e3 = assertThrows(ConfigException.class, () -> FalconH1Config.fromJson(dir.resolve("absent.json")));
        assertTrue(e3.getMessage().contains("absent.json: cannot read"), e3.getMessage());
    }
}
