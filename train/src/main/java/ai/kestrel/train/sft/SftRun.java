package ai.kestrel.train.sft;

import ai.kestrel.engine.Scope;
import ai.kestrel.engine.Tensor;
import ai.kestrel.engine.io.AtomicFiles;
import ai.kestrel.engine.io.SafeTensors;
import ai.kestrel.engine.io.SafeTensorsWriter;
import ai.kestrel.model.falconh1.FalconH1;
import ai.kestrel.model.lora.Lora;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.Consumer;
import java.util.stream.Stream;

/**
 * A whole SFT run over a list of examples: epochs in a seeded order, one optimizer step per
 * {@code batch * gradAccum} examples, metrics appended to {@code out/metrics.jsonl}, a checkpoint every
 * {@code saveEvery} steps ({@code out/checkpoint-<step>/}: the PEFT adapter, the AdamW moments and step, the
 * data position; written to a temporary folder and renamed, so a crash never leaves half a checkpoint), and
 * the final adapter at the top of {@code out}. {@link #resume} continues from the newest checkpoint to exactly
 * the state an uninterrupted run reaches (the kernels are deterministic and the data order depends only on the
 * seed and the epoch).
 */
public final class SftRun {
    private final FalconH1 model;
    private final Lora lora;
    private final LoraTrainer.Settings settings;
    private final List<LoraTrainer.Example> data;
    private final long seed;
    private final long totalSteps;
    private final int saveEvery;
    private final Path out;
    private final String baseModel;
    private List<Integer> order;
    private long orderEpoch = -1;

    public SftRun(FalconH1 model, Lora lora, LoraTrainer.Settings settings, List<LoraTrainer.Example> data, long seed, long totalSteps,
                  int saveEvery, Path out, String baseModel) {
        int per = settings.batch() * settings.gradAccum();
        if (data.size() < per) {
            throw new IllegalArgumentException(data.size() + " examples cannot fill one step of batch " + settings.batch() + " x grad_accum "
                    + settings.gradAccum());
        }
        this.model = model;
        this.lora = lora;
        this.settings = settings;
        this.data = List.copyOf(data);
        this.seed = seed;
        this.totalSteps = totalSteps;
        this.saveEvery = saveEvery;
        this.out = out;
        this.baseModel = baseModel;
    }

    /** Steps per epoch: whole steps only (a remainder that cannot fill one is left out, as drop_last). */
    public long stepsPerEpoch() {
        return data.size() / (settings.batch() * settings.gradAccum());
    }

    /** The examples of global step {@code step}: epoch {@code step / stepsPerEpoch}, in that epoch's seeded order. */
    List<LoraTrainer.Example> batchOf(long step) {
        long epoch = step / stepsPerEpoch();
        int within = (int) (step % stepsPerEpoch());
        if (epoch != orderEpoch) {
            // the epoch's order is a function of the seed and the epoch: drawn once per epoch
            order = new ArrayList<>();
            for (int i = 0; i < data.size(); i++) {
                order.add(i);
            }
            java.util.Collections.shuffle(order, new Random(seed * 1_000_003L + epoch));
            orderEpoch = epoch;
        }
        int per = settings.batch() * settings.gradAccum();
        List<LoraTrainer.Example> b = new ArrayList<>(per);
        for (int i = 0; i < per; i++) {
            b.add(data.get(order.get(within * per + i)));
        }
        return b;
    }

    /** Trains from step 0 (or from the newest checkpoint when {@code resume}); {@code onStep} sees every step's metrics. */
    public List<LoraTrainer.StepMetrics> run(boolean resume, Consumer<LoraTrainer.StepMetrics> onStep) throws IOException {
        Files.createDirectories(out);
        List<LoraTrainer.StepMetrics> all = new ArrayList<>();
        try (LoraTrainer tr = new LoraTrainer(model, lora, settings)) {
            tr.setSeed(seed);
            long start = 0;
            Path metrics = out.resolve("metrics.jsonl");
            if (resume) {
                Path ck = newestCheckpoint(out);
                if (ck == null) {
                    throw new IOException(out + ": --resume, but there is no checkpoint-<step> folder");
                }
                start = restore(ck, tr);
                // keep the metrics of the steps the checkpoint covers, drop any written after it
                if (Files.exists(metrics)) {
                    List<String> kept = new ArrayList<>();
                    for (String line : Files.readAllLines(metrics)) {
                        if (!line.isBlank() && JsonParser.parseString(line).getAsJsonObject().get("step").getAsLong() < start) {
                            kept.add(line);
                        }
                    }
                    Files.write(metrics, kept);
                }
            } else {
                Files.deleteIfExists(metrics);
            }
            for (long step = start; step < totalSteps; step++) {
                LoraTrainer.StepMetrics m = tr.step(batchOf(step));
                all.add(m);
                appendMetrics(metrics, m);
                if (onStep != null) {
                    onStep.accept(m);
                }
                if (saveEvery > 0 && (step + 1) % saveEvery == 0 && step + 1 < totalSteps) {
                    checkpoint(tr, step + 1);
                }
            }
            lora.save(out, baseModel);
        }
        LossPlot.write(out.resolve("loss.png"), readMetrics(out.resolve("metrics.jsonl")), "training loss: " + baseModel);
        return all;
    }

    /** Every step of {@code metrics.jsonl} (a resumed run's included). */
    static List<LoraTrainer.StepMetrics> readMetrics(Path file) throws IOException {
        List<LoraTrainer.StepMetrics> out = new ArrayList<>();
        for (String line : Files.readAllLines(file)) {
            if (line.isBlank()) {
                continue;
            }
            JsonObject o = JsonParser.parseString(line).getAsJsonObject();
            out.add(new LoraTrainer.StepMetrics(o.get("step").getAsLong(), o.get("loss").getAsDouble(), o.get("token_accuracy").getAsDouble(),
                    o.get("lr").getAsDouble(), o.get("grad_norm").getAsDouble(), o.get("tokens").getAsInt(), 0,
                    o.has("peak_bytes") ? o.get("peak_bytes").getAsLong() : 0));
        }
        return out;
    }

    private static void appendMetrics(Path file, LoraTrainer.StepMetrics m) throws IOException {
        JsonObject o = new JsonObject();
        o.addProperty("step", m.step());
        o.addProperty("loss", m.loss());
        o.addProperty("token_accuracy", m.tokenAccuracy());
        o.addProperty("lr", m.lr());
        o.addProperty("grad_norm", m.gradNorm());
        o.addProperty("tokens", m.tokens());
        o.addProperty("tokens_per_second", m.tokens() / Math.max(1e-9, m.seconds()));
        o.addProperty("peak_bytes", m.peakBytes());
        Files.writeString(file, o + "\n", StandardCharsets.UTF_8, java.nio.file.StandardOpenOption.CREATE,
                java.nio.file.StandardOpenOption.APPEND);
    }

    /** Writes {@code out/checkpoint-<step>} through a temporary folder renamed at the end. */
    void checkpoint(LoraTrainer tr, long step) throws IOException {
        Path dir = out.resolve("checkpoint-" + step);
        Path tmp = out.resolve(".checkpoint-" + step + ".tmp");
        deleteTree(tmp);
        lora.save(tmp, baseModel);
        Map<String, Tensor> moments = new LinkedHashMap<>();
        List<Tensor> mv = tr.optimizer().moments();
        for (int i = 0; i < mv.size(); i++) {
            moments.put(String.format("state.%05d.%s", i / 2, i % 2 == 0 ? "exp_avg" : "exp_avg_sq"), mv.get(i).to(ai.kestrel.engine.Device.CPU));
        }
        SafeTensorsWriter.write(tmp.resolve("optimizer.safetensors"), moments, Map.of("format", "kestrel-adamw"));
        JsonObject st = new JsonObject();
        st.addProperty("global_step", step);
        st.addProperty("optimizer_step", tr.optimizer().stepCount());
        st.addProperty("seed", seed);
        st.addProperty("examples", data.size());
        st.addProperty("steps_per_epoch", stepsPerEpoch());
        byte[] json = st.toString().getBytes(StandardCharsets.UTF_8);
        AtomicFiles.write(tmp.resolve("trainer_state.json"), ch -> AtomicFiles.writeFully(ch, ByteBuffer.wrap(json)));
        deleteTree(dir);
        Files.move(tmp, dir, StandardCopyOption.ATOMIC_MOVE);
    }

    /** Loads a checkpoint's factors and optimizer state into the live objects; returns the step to continue from. */
    long restore(Path ck, LoraTrainer tr) throws IOException {
        JsonObject st = JsonParser.parseString(Files.readString(ck.resolve("trainer_state.json"))).getAsJsonObject();
        if (st.get("seed").getAsLong() != seed || st.get("examples").getAsInt() != data.size()) {
            throw new IllegalArgumentException(ck + ": the checkpoint was made with seed " + st.get("seed") + " over " + st.get("examples")
                    + " examples; this run has seed " + seed + " and " + data.size() + " examples, so it would not continue the same run");
        }
        try (Lora saved = Lora.load(ck, model); Scope s = Scope.open()) {
            Map<String, Tensor> from = saved.parameters();
            for (var e : lora.parameters().entrySet()) {
                Tensor src = from.get(e.getKey());
                if (src == null) {
                    throw new IOException(ck + ": the checkpoint has no '" + e.getKey() + "'");
                }
                e.getValue().copyFrom(src);
            }
            SafeTensors opt = SafeTensors.open(ck.resolve("optimizer.safetensors"), s);
            List<Tensor> mv = tr.optimizer().moments();
            for (int i = 0; i < mv.size(); i++) {
                String key = String.format("state.%05d.%s", i / 2, i % 2 == 0 ? "exp_avg" : "exp_avg_sq");
                Tensor src = opt.tensor(key);
                if (src.numel() != mv.get(i).numel()) {
                    throw new IOException(ck + ": optimizer tensor '" + key + "' has " + src.numel() + " values, expected " + mv.get(i).numel());
                }
                mv.get(i).copyFrom(src);
            }
        }
        tr.optimizer().setStepCount(st.get("optimizer_step").getAsLong());
        return st.get("global_step").getAsLong();
    }

    /** The checkpoint folder with the highest step under {@code out}, or {@code null}. */
    static Path newestCheckpoint(Path out) throws IOException {
        if (!Files.isDirectory(out)) {
            return null;
        }
        try (Stream<Path> s = Files.list(out)) {
            return s.filter(p -> p.getFileName().toString().matches("checkpoint-\\d+") && Files.isDirectory(p))
                    .max(java.util.Comparator.comparingLong(p -> Long.parseLong(p.getFileName().toString().substring("checkpoint-".length()))))
                    .orElse(null);
        }
    }

    private static void deleteTree(Path p) throws IOException {
        if (!Files.exists(p)) {
            return;
        }
        try (Stream<Path> s = Files.walk(p)) {
            for (Path q : s.sorted(java.util.Comparator.reverseOrder()).toList()) {
                Files.delete(q);
            }
        }
    }
}
