package ai.kestrel.engine.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.kestrel.engine.DType;
import ai.kestrel.engine.Scope;
import ai.kestrel.engine.Tensor;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SafeTensorsTest {
    @Test
    void fixturesParse() throws IOException {
        try (Scope s = Scope.open()) {
            SafeTensors h1 = SafeTensors.open(Fixtures.file("falcon-h1-g1", "model.safetensors"), s);
            assertEquals("BF16", h1.storedType("model.embed_tokens.weight"));
            assertArrayEquals(new long[] {320, 64}, h1.shape("model.embed_tokens.weight"));
            assertArrayEquals(new long[] {96 + 32, 1, 4}, h1.shape("model.layers.0.mamba.conv1d.weight"));
            assertEquals(DType.BF16, h1.tensor("lm_head.weight").dtype());
            SafeTensors fm = SafeTensors.open(Fixtures.file("falcon-mamba", "model.safetensors"), s);
            assertEquals("F32", fm.storedType("backbone.embeddings.weight"));
            assertTrue(fm.has("backbone.layers.1.mixer.A_log"));
        }
    }

    @Test
    void writeThenReadGivesTheSameTensorsAndMetadata(@TempDir Path dir) throws IOException {
        try (Scope s = Scope.open()) {
            Map<String, Tensor> ts = new LinkedHashMap<>();
            ts.put("z.weight", Tensor.of(new float[] {1, -2, 3.5f, 4, 5, 6}, 2, 3));
            ts.put("a.bias", Tensor.ofDoubles(new double[] {0.25, -1}, 2));
            ts.put("ids", Tensor.ofInts(new int[] {7, 8, 9}, 3));
            ts.put("scalar", Tensor.of(new float[] {42}));
            Path f = dir.resolve("t.safetensors");
            SafeTensorsWriter.write(f, ts, Map.of("format", "pt"));
            SafeTensors back = SafeTensors.open(f, s);
            assertEquals(Map.of("format", "pt"), back.metadata());
            assertEquals(java.util.List.of("a.bias", "ids", "scalar", "z.weight"), java.util.List.copyOf(back.names()));
            for (var kv : ts.entrySet()) {
                Tensor t = back.tensor(kv.getKey());
                assertArrayEquals(kv.getValue().shape(), t.shape(), kv.getKey());
                assertEquals(kv.getValue().dtype(), t.dtype());
                assertArrayEquals(kv.getValue().segment().toArray(java.lang.foreign.ValueLayout.JAVA_BYTE),
                        t.segment().toArray(java.lang.foreign.ValueLayout.JAVA_BYTE), kv.getKey());
            }
            long headerLength = java.nio.ByteBuffer.wrap(Files.readAllBytes(f), 0, 8).order(java.nio.ByteOrder.LITTLE_ENDIAN).getLong();
            assertEquals(0, headerLength % 8, "header padded to 8 bytes");
        }
    }

    @Test
    void shardedFolderWithIndex(@TempDir Path dir) throws IOException {
        try (Scope s = Scope.open()) {
            SafeTensorsWriter.write(dir.resolve("model-00001-of-00002.safetensors"), Map.of("a", Tensor.of(new float[] {1, 2}, 2)), Map.of());
            SafeTensorsWriter.write(dir.resolve("model-00002-of-00002.safetensors"), Map.of("b", Tensor.of(new float[] {3}, 1)), Map.of());
            Files.writeString(dir.resolve(SafeTensorsFolder.INDEX), "{\"metadata\": {\"total_size\": 999, \"extra\": 1}, "
                    + "\"weight_map\": {\"a\": \"model-00001-of-00002.safetensors\", \"b\": \"model-00002-of-00002.safetensors\"}}", StandardCharsets.UTF_8);
            SafeTensorsFolder folder = SafeTensorsFolder.open(dir, s);
            assertEquals(java.util.Set.of("a", "b"), folder.names());
            assertArrayEquals(new float[] {3}, folder.tensor("b").toFloatArray());
            Files.writeString(dir.resolve(SafeTensorsFolder.INDEX), "{\"weight_map\": {\"a\": \"model-00009-of-00002.safetensors\"}}");
            var e = assertThrows(TensorFileException.class, () -> SafeTensorsFolder.open(dir, s));
            assertTrue(e.getMessage().contains("model-00009-of-00002.safetensors"), e.getMessage());
            Files.writeString(dir.resolve(SafeTensorsFolder.INDEX), "{\"weight_map\": {\"c\": \"model-00001-of-00002.safetensors\"}}");
            var e2 = assertThrows(TensorFileException.class, () -> SafeTensorsFolder.open(dir, s));
            assertTrue(e2.getMessage().contains("'c'"), e2.getMessage());
        }
    }

    @Test
    void folderWithoutWeightsIsNamed(@TempDir Path dir) {
        try (Scope s = Scope.open()) {
            var e = assertThrows(TensorFileException.class, () -> SafeTensorsFolder.open(dir, s));
            assertTrue(e.getMessage().contains("neither model.safetensors nor model.safetensors.index.json"), e.getMessage());
        }
    }

    @Test
    void unsupportedDtypesListButDoNotLoad(@TempDir Path dir) throws IOException {
        String header = "{\"x\":{\"dtype\":\"U16\",\"shape\":[2],\"data_offsets\":[0,4]}}";
        Path f = dir.resolve("u16.safetensors");
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(8 + h.length + 4).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        b.putLong(h.length).put(h).putInt(0);
        Files.write(f, b.array());
        try (Scope s = Scope.open()) {
            SafeTensors st = SafeTensors.open(f, s);
            assertEquals("U16", st.storedType("x"));
            var e = assertThrows(TensorFileException.class, () -> st.tensor("x"));
            assertEquals("u16.safetensors: tensor 'x' is U16, which Kestrel does not load", e.getMessage());
        }
    }
}
