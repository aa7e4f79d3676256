package ai.kestrel.engine.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.kestrel.engine.DType;
import ai.kestrel.engine.Rand;
import ai.kestrel.engine.Scope;
import ai.kestrel.engine.Tensor;
import ai.kestrel.engine.ops.Casts;
import ai.kestrel.engine.ops.Linalg;
import ai.kestrel.kernels.quant.Nf4;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class BnbNf4Test {
    private static final String P = "model.layers.0.feed_forward.up_proj.";

    @Test
    void writesBitsandbytesKeysAndReadsThemBack(@TempDir Path dir) throws IOException {
        try (Scope s = Scope.open()) {
            Tensor w = Rand.normal32(new SplittableRandom(3), 0.02, 12, 320);
            Map<String, Tensor> sd = BnbNf4.quantize(P, w, "bfloat16");
            assertEquals(List.of(P + "weight", P + "weight.absmax", P + "weight.quant_map", P + "weight.nested_absmax",
                    P + "weight.nested_quant_map", P + BnbNf4.STATE), List.copyOf(sd.keySet()));
            assertArrayEquals(new long[] {12 * 320 / 2, 1}, sd.get(P + "weight").shape());
            assertEquals(DType.U8, sd.get(P + "weight").dtype());
            assertArrayEquals(new long[] {12 * 320 / 64}, sd.get(P + "weight.absmax").shape());
            assertEquals(DType.U8, sd.get(P + "weight.absmax").dtype());
            assertArrayEquals(new long[] {16}, sd.get(P + "weight.quant_map").shape());
            assertArrayEquals(new long[] {1}, sd.get(P + "weight.nested_absmax").shape());
            assertArrayEquals(new long[] {256}, sd.get(P + "weight.nested_quant_map").shape());
            String json = new String(sd.get(P + BnbNf4.STATE).segment().toArray(java.lang.foreign.ValueLayout.JAVA_BYTE), StandardCharsets.UTF_8);
            assertTrue(json.startsWith("{\"quant_type\":\"nf4\",\"blocksize\":64,\"dtype\":\"bfloat16\",\"shape\":[12,320],"
                    + "\"nested_blocksize\":256,\"nested_dtype\":\"float32\",\"nested_offset\":"), json);

            Path f = dir.resolve("model.safetensors");
            SafeTensorsWriter.write(f, sd, Map.of("format", "pt"));
            try (Scope file = Scope.open()) {
                SafeTensors st = SafeTensors.open(f, file);
                assertTrue(BnbNf4.isQuantized(st, P));
                Tensor q = BnbNf4.read(st, P);
                assertEquals(DType.NF4, q.dtype());
                assertArrayEquals(new long[] {12, 320}, q.shape());
                // what the file says equals what quantizing in memory gives, value for value
                assertArrayEquals(Casts.to(Casts.to(w, DType.NF4), DType.F32).toFloatArray(), Casts.to(q, DType.F32).toFloatArray());
                assertArrayEquals(Nf4.dequantize(Nf4.quantize(w.toFloatArray())), Casts.to(q, DType.F32).toFloatArray());
                // and the weight works in a product
                Tensor x = Rand.normal32(new SplittableRandom(4), 1, 3, 320);
                float[] a = Linalg.linear(x, q, null).toFloatArray();
                float[] b = Linalg.linear(x, Casts.to(q, DType.F32), null).toFloatArray();
                for (int i = 0; i < a.length; i++) {
                    assertEquals(b[i], a[i], 1e-4, "element " + i);
                }
            }
        }
    }

    @Test
    void refusesWhatItCannotReadNamingTheTensor(@TempDir Path dir) throws IOException {
        try (Scope s = Scope.open()) {
            Tensor w = Rand.normal32(new SplittableRandom(5), 0.02, 4, 128);
            String[][] edits = {
                {"quant_type", "\"fp4\"", "quant_type 'fp4'"},
                {"blocksize", "128", "blocksize 128"},
                {"shape", "[4,100]", "in_features must be a positive multiple of 64"},
                {"shape", "[8,128]", "code bytes"},
            };
            for (String[] e : edits) {
                Map<String, Tensor> sd = new LinkedHashMap<>(BnbNf4.quantize(P, w, "float32"));
                String json = new String(sd.get(P + BnbNf4.STATE).segment().toArray(java.lang.foreign.ValueLayout.JAVA_BYTE), StandardCharsets.UTF_8);
                com.google.gson.JsonObject js = com.google.gson.JsonParser.parseString(json).getAsJsonObject();
                js.add(e[0], com.google.gson.JsonParser.parseString(e[1]));
                byte[] b = js.toString().getBytes(StandardCharsets.UTF_8);
                Tensor t = Tensor.empty(DType.U8, b.length);
                java.lang.foreign.MemorySegment.copy(b, 0, t.segment(), java.lang.foreign.ValueLayout.JAVA_BYTE, 0, b.length);
                sd.put(P + BnbNf4.STATE, t);
                Path f = dir.resolve(e[0] + e[1].hashCode() + ".safetensors");
                SafeTensorsWriter.write(f, sd, Map.of());
                try (Scope file = Scope.open()) {
                    SafeTensors st = SafeTensors.open(f, file);
                    TensorFileException x = assertThrows(TensorFileException.class, () -> BnbNf4.read(st, P));
                    assertTrue(x.getMessage().contains(e[2]), x.getMessage());
                    assertTrue(x.getMessage().contains(f.getFileName().toString()), x.getMessage());
                }
            }
            // a missing nested map is named
            Map<String, Tensor> sd = new LinkedHashMap<>(BnbNf4.quantize(P, w, "float32"));
            sd.remove(P + "weight.nested_quant_map");
            Path f = dir.resolve("missing.safetensors");
            SafeTensorsWriter.write(f, sd, Map.of());
            try (Scope file = Scope.open()) {
                SafeTensors st = SafeTensors.open(f, file);
                TensorFileException x = assertThrows(TensorFileException.class, () -> BnbNf4.read(st, P));
                assertTrue(x.getMessage().contains("weight.nested_quant_map"), x.getMessage());
            }
        }
    }
}
