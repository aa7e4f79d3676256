package ai.kestrel.model.lora;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.kestrel.engine.Autograd;
import ai.kestrel.engine.Scope;
import ai.kestrel.engine.Tensor;
import ai.kestrel.engine.io.SafeTensors;
import ai.kestrel.engine.io.TensorFileException;
import ai.kestrel.engine.ops.Arith;
import ai.kestrel.engine.ops.Linalg;
import ai.kestrel.engine.ops.Numerics;
import ai.kestrel.model.falconh1.FalconH1;
import ai.kestrel.model.falconh1.FalconH1Loader;
import ai.kestrel.model.testing.Fixture;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class LoraTest {
    private static final int[] IDS = {1, 5, 9, 2, 7, 3};

    @Test
    void refusesConvAndOutProjWithTheReason() {
        IllegalArgumentException conv = assertThrows(IllegalArgumentException.class,
                () -> new LoraConfig(8, 16, 0, List.of("q_proj", "conv1d"), false));
        assertTrue(conv.getMessage().contains("depthwise") && conv.getMessage().contains("conv1d"), conv.getMessage());
        IllegalArgumentException out = assertThrows(IllegalArgumentException.class,
                () -> new LoraConfig(8, 16, 0, List.of("out_proj"), false));
        assertTrue(out.getMessage().contains("reads out_proj.weight raw"), out.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new LoraConfig(8, 16, 0, List.of("mlp"), false));
        assertThrows(IllegalArgumentException.class, () -> new LoraConfig(0, 16, 0, List.of("q_proj"), false));
        assertEquals(2.0, LoraConfig.seedRecipe().scaling());
        assertEquals(32 / 4.0, new LoraConfig(16, 32, 0, List.of("q_proj"), true).scaling());
    }

    /** Logits that differ only in the summation order of a few float reductions (about 1e-6 here). */
    private static final float SAME = 2e-5f;

    /** Fills every B with small random values so that the adapter changes the output. */
    private static void randomizeB(Lora lora, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        for (Lora.Factors f : lora.modules().values()) {
            MemorySegment s = f.b().segment();
            for (long i = 0; i < f.b().numel(); i++) {
                s.setAtIndex(ai.kestrel.kernels.Buf.F32, i, (float) (rnd.nextGaussian() * 0.05));
            }
        }
    }

    @Test
    void freshAdapterChangesNothingTrainedOneDoesAndPeftRoundTrips(@TempDir Path dir) throws IOException {
        Fixture f = Fixture.of("falcon-h1-g1");
        try (FalconH1 model = FalconH1Loader.fromHuggingFace(f.dir);
             Lora lora = Lora.create(model, new LoraConfig(4, 8, 0.05, LoraConfig.FALCON_H1_TARGETS, false), 7)) {
            float[][] base = model.logits(IDS);
            assertEquals(8 * model.numLayers(), lora.modules().size());
            model.setAdapter(lora);
            // B starts at zero (PEFT's init): the model computes what it did. Not bit for bit: a float
            // reduceLanes(ADD) does not fix the order it sums lanes in, so two calls of the same kernel can differ in
            // the last bit while the JIT recompiles it (this test failed alone when it demanded equal bits).
            float[][] fresh = model.logits(IDS);
            for (int t = 0; t < IDS.length; t++) {
                assertArrayEquals(base[t], fresh[t], SAME, "position " + t);
            }
            randomizeB(lora, 8);
            float[][] trained = model.logits(IDS);
            double diff = 0;
            for (int t = 0; t < IDS.length; t++) {
                for (int v = 0; v < base[t].length; v++) {
                    diff = Math.max(diff, Math.abs(trained[t][v] - base[t][v]));
                }
            }
            assertTrue(diff > 1e-3, "the adapter moves the logits: " + diff);

            lora.save(dir, "tiiuae/Falcon-H1-1.5B-Deep-Instruct");
            JsonObject c = JsonParser.parseString(Files.readString(dir.resolve(Lora.CONFIG))).getAsJsonObject();
            assertEquals("LORA", c.get("peft_type").getAsString());
            assertEquals(4, c.get("r").getAsInt());
            assertEquals(8.0, c.get("lora_alpha").getAsDouble());
            assertEquals(LoraConfig.FALCON_H1_TARGETS.size(), c.getAsJsonArray("target_modules").size());
            assertFalse(c.get("use_rslora").getAsBoolean());
            try (Scope s = Scope.open()) {
                SafeTensors st = SafeTensors.open(dir.resolve(Lora.WEIGHTS), s);
                String a = "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight";
                String b = "base_model.model.model.layers.0.feed_forward.down_proj.lora_B.weight";
                assertArrayEquals(new long[] {4, model.layer(0).q().dim(1)}, st.shape(a));
                assertArrayEquals(new long[] {model.layer(0).down().dim(0), 4}, st.shape(b));
                assertTrue(st.has("base_model.model.model.layers.0.mamba.in_proj.lora_B.weight"));
                assertEquals(16 * model.numLayers(), st.names().size());
            }
            model.setAdapter(null);
            try (Lora back = Lora.load(dir, model)) {
                model.setAdapter(back);
                float[][] again = model.logits(IDS);
                // the factors come back bit for bit...
                for (var e : lora.modules().entrySet()) {
                    Lora.Factors mine = e.getValue();
                    Lora.Factors read = back.modules().get(e.getKey());
                    assertArrayEquals(mine.a().toFloatArray(), read.a().toFloatArray(), e.getKey() + " A");
                    assertArrayEquals(mine.b().toFloatArray(), read.b().toFloatArray(), e.getKey() + " B");
                }
                // ...so the logits are the trained adapter's (up to the reduction order, see above)
                for (int t = 0; t < IDS.length; t++) {
                    assertArrayEquals(trained[t], again[t], SAME, "position " + t);
                }
                model.setAdapter(null);
            }
        }
    }

    /**
     * {@link Lora#linear} (base and B products as one, {@link ai.kestrel.engine.ops.Linalg#linearPair}) equals
     * {@link Lora#apply} of the base product, over the decoding and GEMM row counts; an unwrapped module is the base
     * product alone.
     */
    @Test
    void wrappedLinearEqualsApplyOfTheBaseProduct() throws IOException {
        Fixture f = Fixture.of("falcon-h1-g1");
        try (FalconH1 model = FalconH1Loader.fromHuggingFace(f.dir);
             Lora lora = Lora.create(model, new LoraConfig(4, 8, 0, List.of("q_proj"), false), 5);
             Scope s = Scope.open()) {
            randomizeB(lora, 9);
            Tensor w = model.layer(0).q();
            Tensor v = model.layer(0).v();
            SplittableRandom rnd = new SplittableRandom(10);
            for (int m : new int[] {3, 40}) {
                float[] xs = new float[m * (int) w.dim(1)];
                for (int i = 0; i < xs.length; i++) {
                    xs[i] = (float) rnd.nextGaussian();
                }
                Tensor x = Tensor.of(xs, m, w.dim(1));
                String q = "model.layers.0.self_attn.q_proj";
                float[] fused = lora.linear(q, x, w, Numerics.TRANSFORMERS).toFloatArray();
                float[] apart = lora.apply(q, x, Linalg.linear(x, w, null)).toFloatArray();
                float[] base = Linalg.linear(x, w, null).toFloatArray();
                double moved = 0;
                for (int i = 0; i < fused.length; i++) {
                    assertEquals(apart[i], fused[i], 1e-5 * (1 + Math.abs(apart[i])), "m=" + m + " element " + i);
                    moved = Math.max(moved, Math.abs(apart[i] - base[i]));
                }
                assertTrue(moved > 1e-3, "the adapter moves q_proj's output: " + moved);
                String vName = "model.layers.0.self_attn.v_proj";
                assertArrayEquals(Linalg.linear(x, v, null).toFloatArray(), lora.linear(vName, x, v, Numerics.TRANSFORMERS).toFloatArray(), vName);
            }
        }
    }

    @Test
    void gradientsReachTheFactorsAndNotTheBase() throws IOException {
        Fixture f = Fixture.of("falcon-h1-g1");
        try (FalconH1 model = FalconH1Loader.fromHuggingFace(f.dir);
             Lora lora = Lora.create(model, new LoraConfig(2, 4, 0, List.of("q_proj", "in_proj", "down_proj"), false), 3)) {
            model.setAdapter(lora);
            try (Scope s = Scope.open()) {
                Tensor out = model.forward(Tensor.ofInts(IDS, 1, IDS.length), null);
                Autograd.backward(Arith.mean(out));
            }
            for (var e : lora.modules().entrySet()) {
                Tensor gb = e.getValue().b().grad();
                assertNotNull(gb, e.getKey() + " B has a gradient");
                double norm = 0;
                for (float g : gb.toFloatArray()) {
                    norm += g * g;
                }
                assertTrue(norm > 0, e.getKey() + " B's gradient is not zero");
                // with B = 0, dL/dA = scaling * Bᵀ(...) is exactly zero, as in PEFT's first step
                for (float g : e.getValue().a().grad().toFloatArray()) {
                    assertEquals(0f, g);
                }
            }
            assertEquals(null, model.layer(0).q().grad());
            model.setAdapter(null);
        }
    }

    @Test
    void loadRefusesBadAdaptersNamingTheFile(@TempDir Path dir) throws IOException {
        Fixture f = Fixture.of("falcon-h1-g1");
        try (FalconH1 model = FalconH1Loader.fromHuggingFace(f.dir);
             Lora lora = Lora.create(model, new LoraConfig(2, 4, 0, List.of("q_proj"), false), 1)) {
            lora.save(dir, "base");
            Path cfg = dir.resolve(Lora.CONFIG);
            String good = Files.readString(cfg);
            Files.writeString(cfg, good.replace("\"use_dora\": false", "\"use_dora\": true"));
            IllegalArgumentException dora = assertThrows(IllegalArgumentException.class, () -> Lora.load(dir, model));
            assertTrue(dora.getMessage().contains("adapter_config.json") && dora.getMessage().contains("use_dora"), dora.getMessage());
            Files.writeString(cfg, good.replace("\"q_proj\"", "\"out_proj\""));
            IllegalArgumentException outProj = assertThrows(IllegalArgumentException.class, () -> Lora.load(dir, model));
            assertTrue(outProj.getMessage().contains("out_proj"), outProj.getMessage());
            Files.writeString(cfg, good.replace("\"q_proj\"", "\"q_proj\", \"k_proj\""));
            TensorFileException missing = assertThrows(TensorFileException.class, () -> Lora.load(dir, model));
            assertTrue(missing.getMessage().contains("k_proj.lora_A.weight") && missing.getMessage().contains(Lora.WEIGHTS),
                    missing.getMessage());
            Files.writeString(cfg, good.replace("\"r\": 2", "\"r\": 3"));
            TensorFileException shape = assertThrows(TensorFileException.class, () -> Lora.load(dir, model));
            assertTrue(shape.getMessage().contains("shape"), shape.getMessage());
        }
    }

    @Test
    void ggufModelsAreRefused() throws IOException {
        Fixture f = Fixture.of("falcon-h1-g1");
        try (FalconH1 model = FalconH1Loader.fromGguf(f.file("model-f32.gguf"))) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> Lora.create(model, LoraConfig.seedRecipe(), 1));
            assertTrue(e.getMessage().contains("folded"), e.getMessage());
        }
    }

    @Test
    void mergeMatchesTheAdapterAndUnmergeRestoresTheWeights(@TempDir Path dir) throws IOException {
        Fixture f = Fixture.of("falcon-h1-g1");
        try (FalconH1 model = FalconH1Loader.fromHuggingFace(f.dir);
             Lora lora = Lora.create(model, new LoraConfig(4, 8, 0, LoraConfig.FALCON_H1_TARGETS, false), 11)) {
            randomizeB(lora, 12);
            model.setAdapter(lora);
            float[][] adapted = model.logits(IDS);
            Tensor q0 = model.layer(0).q();
            lora.merge(model);
            assertEquals(null, model.adapter());
            float[][] merged = model.logits(IDS);
            for (int t = 0; t < IDS.length; t++) {
                for (int v = 0; v < adapted[t].length; v++) {
                    assertEquals(adapted[t][v], merged[t][v], 1e-4 * Math.max(1, Math.abs(adapted[t][v])), "position " + t + " token " + v);
                }
            }
            lora.unmerge(model);
            assertTrue(model.layer(0).q() == q0, "the original tensor is back");
            float[][] again = model.logits(IDS);
            for (int t = 0; t < IDS.length; t++) {
                assertArrayEquals(adapted[t], again[t], SAME, "position " + t);
            }
            model.setAdapter(null);
        }
        // a 4-bit base merges into dequant(W4)
        Path q4 = dir.resolve("q4");
        ai.kestrel.model.Quantizer.quantize(f.dir, q4);
        try (FalconH1 model = FalconH1Loader.fromHuggingFace(q4);
             Lora lora = Lora.create(model, new LoraConfig(2, 4, 0, List.of("q_proj"), false), 13)) {
            randomizeB(lora, 14);
            Tensor w4 = model.layer(0).q();
            assertEquals(ai.kestrel.engine.DType.NF4, w4.dtype());
            float[] dq = ai.kestrel.engine.ops.Casts.to(w4, ai.kestrel.engine.DType.F32).toFloatArray();
            Lora.Factors fq = lora.modules().get("model.layers.0.self_attn.q_proj");
            float[] a = fq.a().toFloatArray();
            float[] b = fq.b().toFloatArray();
            int out = w4.dim(0);
            int in = w4.dim(1);
            lora.merge(model);
            float[] m = model.layer(0).q().toFloatArray();
            for (int i = 0; i < out; i++) {
                for (int j = 0; j < in; j++) {
                    double d = 0;
                    for (int k = 0; k < 2; k++) {
                        d += (double) b[i * 2 + k] * a[k * in + j];
                    }
                    assertEquals(dq[i * in + j] + 2.0 * d, m[i * in + j], 1e-6, "(" + i + ", " + j + ")");
                }
            }
            lora.unmerge(model);
            assertTrue(model.layer(0).q() == w4);
            model.setAdapter(null);
        }
    }
}
