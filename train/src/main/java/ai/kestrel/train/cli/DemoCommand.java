package ai.kestrel.train.cli;

import ai.kestrel.engine.DType;
import ai.kestrel.engine.io.AtomicFiles;
import ai.kestrel.kernels.Parallel;
import ai.kestrel.engine.Scope;
import ai.kestrel.model.Quantizer;
import ai.kestrel.model.falconh1.FalconH1;
import ai.kestrel.model.falconh1.FalconH1Init;
import ai.kestrel.model.falconh1.FalconH1Loader;
import ai.kestrel.model.lora.Lora;
import ai.kestrel.model.lora.LoraConfig;
import ai.kestrel.model.tokenizer.Tokenizer;
import ai.kestrel.train.sft.LoraTrainer;
import ai.kestrel.train.sft.Schedule;
import ai.kestrel.train.sft.SftRun;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import java.util.stream.Stream;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code ./kestrel demo}: the main job of a fresh clone, no download. A tiny random Falcon-H1 (the
 * {@code falcon-h1-tiny} preset: 2 layers, hidden 128) is taught a task it cannot do at first, shifting every
 * letter of a word by one ({@code "kestrel>" -> "lftusfm"}), by QLoRA: the base quantized to NF4, a LoRA adapter
 * trained on 512 words. (The tiny preset's lm_head multiplier is 8 rather than the 0.5B's 0.039: with a frozen
 * random lm_head of std 0.02 behind a final RMSNorm, logits could otherwise never leave +-0.1.) Held-out exact match is measured before and after on 100 other words; the adapter, the
 * metrics and the loss curve are written to {@code --out}. {@code --task add} teaches two-number addition instead
 * ({@code "13+24=" -> "37"}, operands 0..24, the 100 held-out problems disjoint from the 512 training ones) in
 * 4000 steps. For either task the training and held-out sets are also written in GSM8K form
 * ({@code {"question": PROMPT, "answer": "#### TARGET"}} a line) to {@code --out/train.jsonl} and
 * {@code --out/heldout.jsonl}.
 */
@Command(name = "demo", mixinStandardHelpOptions = true,
        description = "Teach a tiny random Falcon-H1 to shift letters by one (or, with --task add, to add two numbers) with QLoRA on "
                + "the CPU and show held-out accuracy before and after, the loss curve and the adapter folder (no download).")
final class DemoCommand implements Callable<Integer> {
    @Option(names = "--out", defaultValue = "kestrel-demo", paramLabel = "DIR", description = "Where everything goes (default ${DEFAULT-VALUE}).")
    Path out;

    /** What the demo teaches. */
    enum Task {
        shift, add
    }

    @Option(names = "--task", defaultValue = "shift", paramLabel = "TASK",
            description = "shift: shift every letter by one (kestrel> -> lftusfm); add: add two numbers from 0 to 24 (13+24= -> 37). "
                    + "One of ${COMPLETION-CANDIDATES} (default ${DEFAULT-VALUE}).")
    Task task;

    @Option(names = "--steps", description = "Training steps of 8 examples (default " + SHIFT_STEPS + " for shift, " + ADD_STEPS
            + " for add).")
    Integer steps;

    @Option(names = "--lr", description = "Peak learning rate of the cosine schedule (default " + SHIFT_LR + " for shift, " + ADD_LR
            + " for add).")
    Double lr;

    @Option(names = "--seed", defaultValue = "0", description = "Seed of the model, the words and the adapter (default ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--threads", defaultValue = "0", description = "Kernel threads (default: all cores).")
    int threads;

    static final int LETTERS = 6;
    static final int SHIFT_STEPS = 400;
    /**
     * Shifting at 3e-3 reaches 100% held-out for seeds 0-3 (loss ~1e-3 by step 200). At 1e-2, the earlier
     * default, it learned for seed 0 only, and only with one exact rounding of the kernels' sums: after the
     * attention and GEMM kernels changed their summation order, seed 0 ended at 1-59% and seeds 1 and 2 at 0%
     * (loss stuck near 3.8) with the old kernels as with the new.
     */
    static final double SHIFT_LR = 3e-3;
    static final double ADD_LR = 1e-2;

    /** {@code --lr}, else the task's default. */
    double peakLr() {
        return lr != null ? lr : task == Task.add ? ADD_LR : SHIFT_LR;
    }
    /**
     * Addition needs many more steps than shifting: the units digit, (a + b) mod 10 over two positions, only
     * starts to generalise after some 2500 steps. At 4000 steps held-out exact match came out 80%, 51%, 45% and
     * 78% for seeds 0-3: a decent but imperfect model, which sampling and voting can still improve on.
     */
    static final int ADD_STEPS = 4000;
    /**
     * Addition operands are drawn uniformly from 0..MAX_OPERAND. 0..24 (625 problems, 612 of them used) is what
     * the tiny model learns to generalise from 512 problems; with 0..99 it memorises the 512 (train 72%, held-out
     * 4% at 3000 steps), and 0..29 swings from seed to seed (held-out 10% and 48% at 4000 steps for seeds 0 and 2).
     */
    static final int MAX_OPERAND = 24;
    static final int TRAIN = 512;
    static final int HELD_OUT = 100;

    /** A word of {@code LETTERS} lowercase letters and its shifted form. */
    static String[] word(SplittableRandom rnd) {
        StringBuilder w = new StringBuilder();
        StringBuilder s = new StringBuilder();
        for (int i = 0; i < LETTERS; i++) {
            int c = rnd.nextInt(26);
            w.append((char) ('a' + c));
            s.append((char) ('a' + (c + 1) % 26));
        }
        return new String[] {w + ">", s + "\n"};
    }

    /** A sum of two operands in 0..{@code MAX_OPERAND} ({@code "13+24="}) and its result ({@code "37\n"}). */
    static String[] sum(SplittableRandom rnd) {
        int a = rnd.nextInt(MAX_OPERAND + 1);
        int b = rnd.nextInt(MAX_OPERAND + 1);
        return new String[] {a + "+" + b + "=", (a + b) + "\n"};
    }

    /**
     * The training and held-out problems, {prompt, target} each. Shift draws 512 then 100 words (as it always
     * has); add draws distinct problems, so none of the held-out 100 is among the 512 trained on.
     */
    static List<List<String[]>> problems(Task task, SplittableRandom rnd) {
        List<String[]> train = new ArrayList<>();
        List<String[]> heldOut = new ArrayList<>();
        if (task == Task.shift) {
            for (int i = 0; i < TRAIN; i++) {
                train.add(word(rnd));
            }
            for (int i = 0; i < HELD_OUT; i++) {
                heldOut.add(word(rnd));
            }
        } else {
            Set<String> seen = new HashSet<>();
            while (train.size() < TRAIN) {
                String[] p = sum(rnd);
                if (seen.add(p[0])) {
                    train.add(p);
                }
            }
            while (heldOut.size() < HELD_OUT) {
                String[] p = sum(rnd);
                if (seen.add(p[0])) {
                    heldOut.add(p);
                }
            }
        }
        return List.of(train, heldOut);
    }

    /** Writes {@code problems} as GSM8K JSONL, {"question": prompt, "answer": "#### target"} a line, atomically. */
    static void writeGsm8k(Path file, List<String[]> problems) throws java.io.IOException {
        StringBuilder b = new StringBuilder();
        for (String[] p : problems) {
            Map<String, String> o = new LinkedHashMap<>();
            o.put("question", p[0]);
            o.put("answer", "#### " + p[1].strip());
            b.append(Json.GSON.toJson(o)).append('\n');
        }
        byte[] bytes = b.toString().getBytes(StandardCharsets.UTF_8);
        AtomicFiles.write(file, ch -> AtomicFiles.writeFully(ch, ByteBuffer.wrap(bytes)));
    }

    /** What the demo writes into {@code --out}: a folder holding only these is a previous demo's, which a run writes over. */
    static final Set<String> WRITES = Set.of("base-model", "adapter", "train.jsonl", "heldout.jsonl");

    @Override
    public Integer call() throws Exception {
        if (threads > 0) {
            Parallel.setThreads(threads);
        }
        if (Files.isDirectory(out)) {
            List<Path> there;
            try (Stream<Path> s = Files.list(out)) {
                there = s.toList();
            }
            for (Path p : there) {
                if (!WRITES.contains(p.getFileName().toString())) {
                    throw new IllegalArgumentException("--out: " + out + " holds " + p.getFileName()
                            + ", which the demo does not write (remove it, or pass another --out)");
                }
            }
            if (!there.isEmpty()) {
                // a previous demo's folder (the README's first command run again): it writes every one of its files anew
                System.err.println("kestrel demo: replacing the previous demo's files in " + out);
            }
        }
        int steps = this.steps != null ? this.steps : task == Task.add ? ADD_STEPS : SHIFT_STEPS;
        if (steps < 1) {
            throw new IllegalArgumentException("--steps must be >= 1; got " + steps);
        }
        long t0 = System.nanoTime();
        Path base = out.resolve("base-model");
        FalconH1Init.write("falcon-h1-tiny", base, DType.F32, seed);
        Tokenizer tok = Tokenizer.fromJson(base.resolve("tokenizer.json"));
        SplittableRandom rnd = new SplittableRandom(seed + 1);
        List<List<String[]>> sets = problems(task, rnd);
        List<String[]> heldOut = sets.get(1);
        writeGsm8k(out.resolve("train.jsonl"), sets.get(0));
        writeGsm8k(out.resolve("heldout.jsonl"), heldOut);
        List<LoraTrainer.Example> train = new ArrayList<>();
        for (String[] w : sets.get(0)) {
            int[] p = tok.encode(w[0]);
            int[] r = tok.encode(w[1]);
            int[] ids = new int[p.length + r.length];
            int[] labels = new int[ids.length];
            System.arraycopy(p, 0, ids, 0, p.length);
            System.arraycopy(r, 0, ids, p.length, r.length);
            java.util.Arrays.fill(labels, 0, p.length, -100);
            System.arraycopy(r, 0, labels, p.length, r.length);
            train.add(new LoraTrainer.Example(ids, labels));
        }
        System.out.printf(Locale.ROOT, "Kestrel demo: a tiny random Falcon-H1 (2 layers, hidden 128, %s) learns to %s,%n"
                + "e.g. %s -> %s, with QLoRA (NF4 base, LoRA r 16 on q,k,v,o,gate,up,down,in_proj).%n%n",
                base, task == Task.shift ? "shift letters by one" : "add two numbers",
                task == Task.shift ? heldOut.get(0)[0].replace(">", "") : heldOut.get(0)[0], heldOut.get(0)[1].strip());
        try (FalconH1 model = FalconH1Loader.fromHuggingFace(base)) {
            double before = exactMatch(model, tok, heldOut);
            System.out.printf(Locale.ROOT, "held-out exact match before training: %.0f%% (%s)%n", 100 * before, sample(model, tok, heldOut.get(0)));
            try (Scope nf4 = Quantizer.quantizeInMemory(model);
                 Lora lora = Lora.create(model, new LoraConfig(16, 32, 0, LoraConfig.FALCON_H1_TARGETS, false), seed)) {
                Path adapter = out.resolve("adapter");
                SftRun run = new SftRun(model, lora, new LoraTrainer.Settings(peakLr(), new Schedule.Cosine(Schedule.warmupSteps(steps, 0.05), steps),
                        8, 1, 1.0, 0, 0), train, seed, steps, 0, adapter, "kestrel demo: falcon-h1-tiny seed " + seed);
                List<LoraTrainer.StepMetrics> m = run.run(false, st -> {
                    if ((st.step() + 1) % 25 == 0 || st.step() == 0) {
                        System.out.printf(Locale.ROOT, "  step %3d/%d  loss %.4f  token accuracy %.3f%n", st.step() + 1, steps, st.loss(), st.tokenAccuracy());
                    }
                });
                model.setAdapter(lora);
                double after = exactMatch(model, tok, heldOut);
                System.out.printf(Locale.ROOT, "held-out exact match after training:  %.0f%% (%s)%n%n", 100 * after, sample(model, tok, heldOut.get(0)));
                System.out.printf(Locale.ROOT, "loss %.3f -> %.4f in %d steps, %.0f s in all%n", m.get(0).loss(), m.get(m.size() - 1).loss(), steps,
                        (System.nanoTime() - t0) / 1e9);
                System.out.println("adapter (PEFT format): " + adapter.resolve(Lora.CONFIG) + ", " + adapter.resolve(Lora.WEIGHTS));
                System.out.println("loss curve: " + adapter.resolve("loss.png") + "; metrics: " + adapter.resolve("metrics.jsonl"));
                System.out.println("held-out and training sets (GSM8K JSONL): " + out.resolve("heldout.jsonl") + ", " + out.resolve("train.jsonl"));
                if (task == Task.add) {
                    System.out.println("evaluate with sampling and DeepConf: ./kestrel eval --model " + base + " --adapter " + adapter + " --data "
                            + out.resolve("heldout.jsonl") + " --raw --stop $'\\n' --max-new-tokens 4 --deepconf online --budget 16 --warmup 4 --window 2 --temperature 1.0");
                }
                System.out.println("try it: ./kestrel generate --model " + base + " --adapter " + adapter
                        + (task == Task.shift ? " --prompt \"kestrel>\" --greedy --max-new-tokens 7" : " --prompt \"13+24=\" --greedy --max-new-tokens 3"));
                model.setAdapter(null);
            }
        }
        return 0;
    }

    /** Greedy continuation of {@code prompt} for as many tokens as {@code target} has. */
    static String continueGreedy(FalconH1 model, Tokenizer tok, String prompt, int n) {
        List<Integer> ids = new ArrayList<>();
        for (int id : tok.encode(prompt)) {
            ids.add(id);
        }
        int[] gen = new int[n];
        for (int k = 0; k < n; k++) {
            int[] in = ids.stream().mapToInt(Integer::intValue).toArray();
            float[][] logits = model.logits(in);
            float[] last = logits[logits.length - 1];
            int best = 0;
            for (int v = 1; v < last.length; v++) {
                if (last[v] > last[best]) {
                    best = v;
                }
            }
            gen[k] = best;
            ids.add(best);
        }
        return tok.decode(gen);
    }

    static double exactMatch(FalconH1 model, Tokenizer tok, List<String[]> words) {
        int ok = 0;
        for (String[] w : words) {
            if (continueGreedy(model, tok, w[0], tok.encode(w[1]).length).equals(w[1])) {
                ok++;
            }
        }
        return (double) ok / words.size();
    }

    private static String sample(FalconH1 model, Tokenizer tok, String[] w) {
        String got = continueGreedy(model, tok, w[0], tok.encode(w[1]).length);
        return w[0] + " -> " + printable(got.strip()) + ", expected " + w[1].strip();
    }

    private static String printable(String s) {
        StringBuilder b = new StringBuilder();
        for (char c : s.toCharArray()) {
            b.append(c >= 32 && c < 127 ? String.valueOf(c) : "?");
        }
        return b.toString();
    }
}
