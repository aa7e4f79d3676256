package ai.kestrel.engine.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.kestrel.engine.DType;
import ai.kestrel.engine.Scope;
import ai.kestrel.engine.Tensor;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class GgufTest {
    @Test
    void everyFixtureParsesWithItsArchitectureKeys() throws IOException {
        try (Scope s = Scope.open()) {
            for (String model : Fixtures.MODELS) {
                for (String f : Fixtures.GGUF) {
                    Gguf g = Gguf.open(Fixtures.file(model, f), s);
                    String arch = g.getString("general.architecture");
                    assertEquals(model.startsWith("falcon-h1") ? "falcon-h1" : "mamba", arch, model + "/" + f);
                    assertEquals(64, g.getLong(arch + ".embedding_length"));
                    assertTrue(g.getList("tokenizer.ggml.tokens").size() >= 308);
                    assertEquals(Gguf.ValueType.STRING, g.arrayType("tokenizer.ggml.tokens"));
                    for (String name : g.names()) {
                        Tensor t = g.tensor(name); // every tensor type here loads
                        assertEquals(g.infos().get(name).bytes(), t.segment().byteSize());
                    }
                }
            }
        }
    }

    @Test
    void shapesAreRowMajorAndTypesMixInQ8_0Files() throws IOException {
        try (Scope s = Scope.open()) {
            Gguf g = Gguf.open(Fixtures.file("falcon-h1-g1", "model-q8_0.gguf"), s);
            assertEquals(3, g.getLong("falcon-h1.block_count"));
            assertEquals(6, g.getLong("falcon-h1.ssm.time_step_rank"));
            assertEquals(16, g.getLong("falcon-h1.ssm.state_size"));
            // HF conv1d.weight [C, 1, 4] is stored squeezed as GGUF {4, C}: row-major [C, 4]
            assertArrayEquals(new long[] {96 + 32, 4}, g.shape("blk.0.ssm_conv1d.weight"));
            assertEquals("F32", g.storedType("blk.0.ssm_conv1d.weight"));
            // the norm is per group: GGUF {d_ssm / ng, ng} -> [ng, d_ssm / ng]
            assertArrayEquals(new long[] {1, 96}, g.shape("blk.0.ssm_norm.weight"));
            assertEquals("Q8_0", g.storedType("blk.0.attn_q.weight"));
            assertArrayEquals(new long[] {4 * 16, 64}, g.shape("blk.0.attn_q.weight"));
            assertEquals(DType.Q8_0, g.tensor("blk.0.attn_q.weight").dtype());
            Gguf m = Gguf.open(Fixtures.file("falcon-mamba", "model-q8_0.gguf"), s);
            // a row of dt_rank = 6 is not a multiple of 32: the converter fell back to F16
            assertEquals("F16", m.storedType("blk.0.ssm_dt.weight"));
            assertTrue(m.getBool("mamba.ssm.dt_b_c_rms", false));
        }
    }

    @Test
    void f32FileHoldsTheSafetensorsNormsExactly() throws IOException {
        try (Scope s = Scope.open()) {
            Gguf g = Gguf.open(Fixtures.file("falcon-h1-g1", "model-f32.gguf"), s);
            SafeTensors st = SafeTensors.open(Fixtures.file("falcon-h1-g1", "model.safetensors"), s);
            // norms carry no muP multiplier: the BF16 values widened to F32 must match bit for bit
            float[] a = g.tensor("blk.1.attn_norm.weight").toFloatArray();
            float[] b = st.tensor("model.layers.1.input_layernorm.weight").toFloatArray();
            assertArrayEquals(b, a);
            assertArrayEquals(st.tensor("model.final_layernorm.weight").toFloatArray(), g.tensor("output_norm.weight").toFloatArray());
        }
    }

    @Test
    void rewritingAFixtureGivesTheSameBytes(@TempDir Path dir) throws IOException {
        try (Scope s = Scope.open()) {
            for (String f : List.of("model-f32.gguf", "model-q8_0.gguf", "model-bf16.gguf")) {
                Path src = Fixtures.file("falcon-h1-g2", f);
                Gguf g = Gguf.open(src, s);
                GgufWriter w = new GgufWriter().putAll(g);
                for (String name : g.names()) {
                    w.tensor(name, g.tensor(name));
                }
                Path out = dir.resolve(f);
                w.write(out);
                assertArrayEquals(Files.readAllBytes(src), Files.readAllBytes(out), f);
            }
            try (var files = Files.list(dir)) {
                assertEquals(3, files.count(), "no temporary files are left behind");
            }
        }
    }

    @Test
    void typedGettersNameFileAndKey() throws IOException {
        try (Scope s = Scope.open()) {
            Gguf g = Gguf.open(Fixtures.file("falcon-h1-g1", "model-f32.gguf"), s);
            var e = assertThrows(IllegalArgumentException.class, () -> g.getLong("falcon-h1.no_such_key"));
            assertEquals("model-f32.gguf: missing metadata 'falcon-h1.no_such_key'", e.getMessage());
            var e2 = assertThrows(IllegalArgumentException.class, () -> g.getLong("general.architecture"));
            assertTrue(e2.getMessage().contains("is STRING, expected an integer"), e2.getMessage());
            assertThrows(IllegalArgumentException.class, () -> g.tensor("nope"));
        }
    }
}
