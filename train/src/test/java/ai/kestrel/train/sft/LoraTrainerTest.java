package ai.kestrel.train.sft;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.kestrel.engine.Scope;
import ai.kestrel.model.Quantizer;
import ai.kestrel.model.falconh1.FalconH1;
import ai.kestrel.model.falconh1.FalconH1Loader;
import ai.kestrel.model.lora.Lora;
import ai.kestrel.model.lora.LoraConfig;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class LoraTrainerTest {
    private static Path fixture() {
        return Path.of(System.getProperty("kestrel.testdata"), "fixtures", "falcon-h1-g1");
    }

    /** A prompt (no loss) followed by a response (loss), as SFT on a chat template gives. */
    static LoraTrainer.Example example(int seed) {
        int[] ids = new int[12];
        int[] labels = new int[12];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = 3 + (seed * 7 + i * 5) % 40;
            labels[i] = i < 5 ? -100 : ids[i];
        }
        return new LoraTrainer.Example(ids, labels);
    }

    @Test
    void lossFallsOnATinyTask() throws IOException {
        try (FalconH1 model = FalconH1Loader.fromHuggingFace(fixture());
             Lora lora = Lora.create(model, new LoraConfig(4, 8, 0, LoraConfig.FALCON_H1_TARGETS, false), 1);
             LoraTrainer tr = new LoraTrainer(model, lora, new LoraTrainer.Settings(1e-2, new Schedule.Cosine(2, 40), 2, 1, 1.0, 0, 0))) {
            List<LoraTrainer.Example> data = List.of(example(1), example(2));
            List<LoraTrainer.StepMetrics> m = new ArrayList<>();
            for (int s = 0; s < 40; s++) {
                m.add(tr.step(data));
            }
            assertEquals(0.0, m.get(0).lr()); // step 0 of the schedule: warmup starts at 0
            assertEquals(5e-3, m.get(1).lr(), 1e-15);
            double first = m.get(0).loss();
            double last = m.get(39).loss();
            assertTrue(last < 0.5 * first, "loss " + first + " -> " + last);
            assertTrue(m.get(39).tokenAccuracy() > m.get(0).tokenAccuracy(), "accuracy rises");
            assertEquals(24, m.get(0).tokens());
        }
    }

    /**
     * Issue #2's memory criterion on the real model: 1,000 LoRA steps through Falcon-H1 (the fixture, all eight
     * targets, activation checkpointing; its weights as loaded, then quantized to NF4 as QLoRA does) leave the live
     * native bytes exactly where the first step left them (the optimizer's moments and the gradients, made once),
     * the process's native memory (RSS minus the Java heap) flat, and nothing once trainer, adapter and model close.
     */
    @ParameterizedTest(name = "NF4 base: {0}")
    @ValueSource(booleans = {false, true})
    void thousandStepsLeaveNativeMemoryFlat(boolean qlora) throws IOException {
        long atStart = Scope.liveBytes();
        List<LoraTrainer.Example> data = List.of(example(1), example(2));
        try (FalconH1 model = FalconH1Loader.fromHuggingFace(fixture());
             Scope nf4 = qlora ? Quantizer.quantizeInMemory(model) : null;
             Lora lora = Lora.create(model, new LoraConfig(4, 8, 0.1, LoraConfig.FALCON_H1_TARGETS, false), 1);
             LoraTrainer tr = new LoraTrainer(model, lora, new LoraTrainer.Settings(1e-3, new Schedule.Constant(0), 2, 1, 1.0, 0, 0))) {
            tr.setActivationCheckpointing(true);
            tr.step(data);
            long afterFirst = Scope.liveBytes();
            long native100 = 0;
            for (int s = 1; s < 1000; s++) {
                tr.step(data);
                if (Scope.liveBytes() != afterFirst) {
                    assertEquals(afterFirst, Scope.liveBytes(), "live native bytes after step " + s);
                }
                if (s == 99) {
                    native100 = nativeBytes();
                }
            }
            long growth = nativeBytes() - native100;
            assertTrue(growth < (64L << 20), "native memory (RSS - heap) grew by " + (growth >> 20) + " MB over 900 steps");
        }
        assertEquals(atStart, Scope.liveBytes(), "closing trainer, adapter and model frees everything they made");
    }

    /** Resident memory not explained by the Java heap (a growing heap raises both, a native leak only RSS). */
    private static long nativeBytes() throws IOException {
        for (String line : java.nio.file.Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith("VmRSS:")) {
                return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024 - Runtime.getRuntime().totalMemory();
            }
        }
        throw new IllegalStateException("no VmRSS in /proc/self/status");
    }

    @Test
    void accumulationEqualsOneBigBatch() throws IOException {
        List<LoraTrainer.Example> data = List.of(example(3), new LoraTrainer.Example(
                java.util.Arrays.copyOf(example(4).inputIds(), 9), java.util.Arrays.copyOf(example(4).labels(), 9)));
        float[][] after = new float[2][];
        int[][] shapes = {{2, 1}, {1, 2}};
        for (int c = 0; c < 2; c++) {
            try (FalconH1 model = FalconH1Loader.fromHuggingFace(fixture());
                 Lora lora = Lora.create(model, new LoraConfig(2, 4, 0, List.of("q_proj", "in_proj", "down_proj"), false), 5);
                 LoraTrainer tr = new LoraTrainer(model, lora, new LoraTrainer.Settings(1e-2, new Schedule.Constant(0),
                         shapes[c][0], shapes[c][1], 1e9, 0, 0))) {
                tr.step(data);
                tr.step(data); // B is non-zero after the first step, so A moves too
                after[c] = lora.parameters().values().iterator().next().toFloatArray();
            }
        }
        // batch 2 x accumulation 1 and batch 1 x accumulation 2 take the same optimizer step (padding aside)
        for (int i = 0; i < after[0].length; i++) {
            assertEquals(after[0][i], after[1][i], 1e-5, "A[" + i + "]");
        }
        assertTrue(after[0].length > 0);
    }

    @Test
    void examplesAreChecked() {
        assertArrayEquals(new int[] {1, 2}, new LoraTrainer.Example(new int[] {1, 2}, new int[] {1, 2}).inputIds());
        org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> new LoraTrainer.Example(new int[] {1, 2, 3}, new int[] {1, 2}));
    }

    @Test
    void checkpointingGivesTheSameTraining() throws IOException {
        List<LoraTrainer.Example> data = List.of(example(5), example(6));
        float[][] after = new float[2][];
        for (int c = 0; c < 2; c++) {
            try (FalconH1 model = FalconH1Loader.fromHuggingFace(fixture());
                 Lora lora = Lora.create(model, new LoraConfig(2, 4, 0, LoraConfig.FALCON_H1_TARGETS, false), 5);
                 LoraTrainer tr = new LoraTrainer(model, lora, new LoraTrainer.Settings(1e-2, new Schedule.Constant(0), 2, 1, 1.0, 0, 0))) {
                tr.setActivationCheckpointing(c == 1);
                tr.step(data);
                tr.step(data);
                after[c] = factors(lora);
            }
        }
        for (int i = 0; i < after[0].length; i++) {
            assertEquals(after[0][i], after[1][i], 1e-6 + 1e-5 * Math.abs(after[0][i]), "parameter value " + i);
        }
    }

    @Test
    void keptProductsGiveTheSameTrainingBitForBit() throws IOException {
        // selective checkpointing (the base's product outputs kept, the rest recomputed) against full checkpointing,
        // with LoRA dropout on every target: the same losses and factors, exactly
        List<LoraTrainer.Example> data = List.of(example(9), example(10));
        float[][] after = new float[2][];
        double[][] losses = new double[2][];
        long[] peaks = new long[2];
        long tokens = 0;
        ai.kestrel.model.config.FalconH1Config config = null;
        for (int c = 0; c < 2; c++) {
            try (FalconH1 model = FalconH1Loader.fromHuggingFace(fixture());
                 Lora lora = Lora.create(model, new LoraConfig(2, 4, 0.3, LoraConfig.FALCON_H1_TARGETS, false), 5);
                 LoraTrainer tr = new LoraTrainer(model, lora, new LoraTrainer.Settings(1e-2, new Schedule.Constant(0), 2, 1, 1.0, 0, 0))) {
                tr.setKeepProducts(c == 1);
                LoraTrainer.StepMetrics[] m = {tr.step(data), tr.step(data), tr.step(data)};
                losses[c] = new double[] {m[0].loss(), m[1].loss(), m[2].loss()};
                peaks[c] = m[2].peakBytes();
                tokens = m[2].tokens();
                config = model.config();
                after[c] = factors(lora);
            }
        }
        assertArrayEquals(losses[0], losses[1]);
        assertArrayEquals(after[0], after[1]);
        // and the products were kept: at the step's height (the last layer's recomputation in backward) the other
        // layers' nine base products per token are held too
        long widths = 2L * config.dSsm() + 2L * config.mambaGroups() * config.mambaDState() + config.mambaHeads()
                + (long) (config.numAttentionHeads() + 2 * config.numKeyValueHeads()) * config.headDim()
                + 2L * config.hiddenSize() + 2L * config.intermediateSize() + config.hiddenSize();
        long kept = (config.numLayers() - 1) * tokens * widths * Float.BYTES;
        assertTrue(peaks[1] - peaks[0] >= kept, "peak bytes " + peaks[1] + " with the products kept, " + peaks[0]
                + " without: expected at least " + kept + " more");
    }

    @Test
    void dropoutMasksAreSeededAndSurviveRecomputation() throws IOException {
        List<LoraTrainer.Example> data = List.of(example(7), example(8));
        float[][] after = new float[3][];
        for (int c = 0; c < 3; c++) {
            try (FalconH1 model = FalconH1Loader.fromHuggingFace(fixture());
                 Lora lora = Lora.create(model, new LoraConfig(2, 4, 0.3, List.of("q_proj", "in_proj", "up_proj"), false), 5);
                 LoraTrainer tr = new LoraTrainer(model, lora, new LoraTrainer.Settings(1e-2, new Schedule.Constant(0), 2, 1, 1.0, 0, 0))) {
                tr.setSeed(c == 2 ? 99 : 1);
                tr.setActivationCheckpointing(c != 0); // run 0 keeps activations, run 1 recomputes them: same masks
                tr.step(data);
                tr.step(data);
                after[c] = factors(lora);
            }
        }
        double diff = 0;
        for (int i = 0; i < after[0].length; i++) {
            assertEquals(after[0][i], after[1][i], 1e-6 + 1e-5 * Math.abs(after[0][i]), "parameter value " + i);
            diff = Math.max(diff, Math.abs(after[0][i] - after[2][i]));
        }
        assertTrue(diff > 1e-6, "another seed draws other masks");
    }

    @Test
    void aNanLossStopsBeforeAnyUpdate() throws IOException {
        try (FalconH1 model = FalconH1Loader.fromHuggingFace(fixture());
             Lora lora = Lora.create(model, new LoraConfig(2, 4, 0, List.of("q_proj"), false), 5);
             LoraTrainer tr = new LoraTrainer(model, lora, new LoraTrainer.Settings(1e-2, new Schedule.Constant(0), 2, 1, 1.0, 0, 0))) {
            List<LoraTrainer.Example> data = List.of(example(1), example(2));
            tr.step(data);
            Lora.Factors f = lora.modules().values().iterator().next();
            f.b().segment().setAtIndex(ai.kestrel.kernels.Buf.F32, 0, Float.NaN);
            float[] a = f.a().toFloatArray();
            long steps = tr.optimizer().stepCount();
            IllegalStateException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalStateException.class, () -> tr.step(data));
            assertTrue(e.getMessage().contains("NaN") && e.getMessage().contains("not updated"), e.getMessage());
            assertArrayEquals(a, f.a().toFloatArray(), "no factor moved");
            assertEquals(steps, tr.optimizer().stepCount(), "no optimizer step was taken");
        }
    }

    /** Every factor of {@code lora}, concatenated in PEFT key order. */
    private static float[] factors(Lora lora) {
        List<float[]> parts = new ArrayList<>();
        int n = 0;
        for (var t : lora.parameters().values()) {
            parts.add(t.toFloatArray());
            n += parts.get(parts.size() - 1).length;
        }
        float[] all = new float[n];
        int at = 0;
        for (float[] p : parts) {
            System.arraycopy(p, 0, all, at, p.length);
            at += p.length;
        }
        return all;
    }
}
