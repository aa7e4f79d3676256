package ai.kestrel.train.sft;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.kestrel.model.falconh1.FalconH1;
import ai.kestrel.model.falconh1.FalconH1Loader;
import ai.kestrel.model.lora.Lora;
import ai.kestrel.model.lora.LoraConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SftRunTest {
    private static final Path FIXTURE = Path.of(System.getProperty("kestrel.testdata"), "fixtures", "falcon-h1-g1");

    private static List<LoraTrainer.Example> data() {
        List<LoraTrainer.Example> d = new ArrayList<>();
        // 18-20 tokens: a micro-batch takes the blocked GEMM, whose sums have one order in every JIT tier, as real
        // training's do. (Up to 16 rows take the decode kernels, whose reduceLanes order differs between the
        // interpreter and C2: there a resumed JVM, starting cold, can differ from an uninterrupted run in the last bits.)
        for (int s = 0; s < 8; s++) {
            int n = 18 + s % 3;
            int[] ids = new int[n];
            int[] labels = new int[n];
            for (int i = 0; i < n; i++) {
                ids[i] = 3 + (s * 11 + i * 7) % 50;
                labels[i] = i < 3 ? -100 : ids[i];
            }
            d.add(new LoraTrainer.Example(ids, labels));
        }
        return d;
    }

    private static LoraTrainer.Settings settings() {
        return new LoraTrainer.Settings(5e-3, new Schedule.Cosine(1, 6), 1, 2, 1.0, 0.01, 0);
    }

    /** Runs {@code steps} steps (resuming when asked) on a fresh model and adapter; returns the final factors and losses. */
    private static Object[] run(Path out, long steps, boolean resume) throws IOException {
        return run(out, steps, resume, ai.kestrel.engine.Device.CPU);
    }

    /** {@link #run(Path, long, boolean)} with the model and adapter moved to {@code device} after they are made. */
    private static Object[] run(Path out, long steps, boolean resume, ai.kestrel.engine.Device device) throws IOException {
        try (FalconH1 base = FalconH1Loader.fromHuggingFace(FIXTURE);
             Lora created = Lora.create(base, new LoraConfig(2, 4, 0, List.of("q_proj", "in_proj", "up_proj"), false), 9);
             FalconH1 model = base.to(device); Lora lora = created.to(device)) {
            SftRun r = new SftRun(model, lora, settings(), data(), 42, steps, 2, out, "fixture");
            r.run(resume, null);
            List<float[]> factors = new ArrayList<>();
            lora.parameters().values().forEach(t -> factors.add(t.toFloatArray()));
            return new Object[] {factors, Files.readAllLines(out.resolve("metrics.jsonl"))};
        }
    }

    /**
     * On the GPU: checkpoints written from and read back into device tensors. Not bit for bit: the GPU's backward
     * sums some gradients with float atomics, in no fixed order.
     */
    @Test
    @org.junit.jupiter.api.Tag("cuda")
    @org.junit.jupiter.api.condition.EnabledIf(value = "ai.kestrel.kernels.cuda.Cuda#available", disabledReason = "no CUDA device")
    @SuppressWarnings("unchecked")
    void resumeOnTheGpuReachesTheUninterruptedResult(@TempDir Path dir) throws IOException {
        Object[] whole = run(dir.resolve("a"), 6, false, ai.kestrel.engine.Device.CUDA);
        Path b = dir.resolve("b");
        run(b, 3, false, ai.kestrel.engine.Device.CUDA);
        Object[] resumed = run(b, 6, true, ai.kestrel.engine.Device.CUDA);
        List<float[]> fa = (List<float[]>) whole[0];
        List<float[]> fb = (List<float[]>) resumed[0];
        for (int i = 0; i < fa.size(); i++) {
            for (int j = 0; j < fa.get(i).length; j++) {
                assertEquals(fa.get(i)[j], fb.get(i)[j], 1e-5 + 1e-4 * Math.abs(fa.get(i)[j]), "factor " + i + " element " + j);
            }
        }
        assertEquals(6, ((List<String>) resumed[1]).size());
    }

    @Test
    @SuppressWarnings("unchecked")
    void resumeReachesExactlyTheUninterruptedResult(@TempDir Path dir) throws IOException {
        Object[] whole = run(dir.resolve("a"), 6, false);
        Path b = dir.resolve("b");
        run(b, 3, false); // "crashes" after step 3; checkpoint-2 is on disk
        assertTrue(Files.isDirectory(b.resolve("checkpoint-2")));
        assertTrue(Files.exists(b.resolve("checkpoint-2").resolve("optimizer.safetensors")));
        assertTrue(Files.exists(b.resolve("checkpoint-2").resolve(Lora.WEIGHTS)));
        Object[] resumed = run(b, 6, true);
        List<float[]> fa = (List<float[]>) whole[0];
        List<float[]> fb = (List<float[]>) resumed[0];
        for (int i = 0; i < fa.size(); i++) {
            assertArrayEquals(fa.get(i), fb.get(i), "factor " + i);
        }
        List<String> ma = (List<String>) whole[1];
        List<String> mb = (List<String>) resumed[1];
        assertEquals(6, ma.size());
        assertEquals(6, mb.size());
        for (int i = 0; i < 6; i++) {
            double la = com.google.gson.JsonParser.parseString(ma.get(i)).getAsJsonObject().get("loss").getAsDouble();
            double lb = com.google.gson.JsonParser.parseString(mb.get(i)).getAsJsonObject().get("loss").getAsDouble();
            assertEquals(la, lb, "loss of step " + i);
        }
        assertTrue(Files.exists(b.resolve(Lora.CONFIG)) && Files.exists(b.resolve(Lora.WEIGHTS)), "the final adapter is at the top");
        java.awt.image.BufferedImage png = javax.imageio.ImageIO.read(b.resolve("loss.png").toFile());
        assertEquals(800, png.getWidth());
        assertEquals(500, png.getHeight());
    }

    @Test
    void resumeRefusesAnotherRun(@TempDir Path dir) throws IOException {
        Path out = dir.resolve("c");
        run(out, 3, false);
        try (FalconH1 model = FalconH1Loader.fromHuggingFace(FIXTURE);
             Lora lora = Lora.create(model, new LoraConfig(2, 4, 0, List.of("q_proj", "in_proj", "up_proj"), false), 9)) {
            SftRun other = new SftRun(model, lora, settings(), data(), 43, 6, 2, out, "fixture");
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> other.run(true, null));
            assertTrue(e.getMessage().contains("seed"), e.getMessage());
        }
        try (FalconH1 model = FalconH1Loader.fromHuggingFace(FIXTURE);
             Lora lora = Lora.create(model, new LoraConfig(2, 4, 0, List.of("q_proj"), false), 9)) {
            SftRun none = new SftRun(model, lora, settings(), data(), 42, 6, 2, dir.resolve("empty"), "fixture");
            IOException e = assertThrows(IOException.class, () -> none.run(true, null));
            assertTrue(e.getMessage().contains("no checkpoint"), e.getMessage());
        }
    }
}
