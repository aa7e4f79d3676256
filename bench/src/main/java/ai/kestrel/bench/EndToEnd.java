package ai.kestrel.bench;

import ai.kestrel.engine.Autograd;
import ai.kestrel.engine.Scope;
import ai.kestrel.engine.Tensor;
import ai.kestrel.kernels.Parallel;
import ai.kestrel.model.LanguageModel;
import ai.kestrel.model.LoadedModel;
import ai.kestrel.model.ModelLoader;
import ai.kestrel.model.generate.BatchGenerator;
import ai.kestrel.model.generate.Generator;
import ai.kestrel.model.generate.Sampler;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * End-to-end speed of a model file: load time, prefill throughput over a prompt of {@code --prompt} random
 * tokens (one forward pass, chunked scans), decode throughput over {@code --decode} single-token steps from
 * the cache, and the process's peak resident memory. Each measurement follows a warm-up run of the same length
 * (the JIT compiles the kernels during the first calls; llama.cpp's harness, {@code bench/llamacpp/bench.mjs},
 * likewise runs one unmeasured repeat) and is the median of {@code --repeats} runs. (With a 64-token, 4-step
 * warm-up, the JIT was still compiling decode kernels through the measured runs, and the caller's waits for a
 * preempted worker cost 20-40% of the first seconds; see bench/HISTORY.md.)
 *
 * The warm-up run is reported too, as "first run s": its prefill and decode seconds, what a command-line user
 * waits for in a fresh JVM while the JIT compiles the kernels (the 1.5B-Deep's first 16-token prefill took 6 s
 * against 1 s warm on the Zen 3 VM, with C1 and C2 compiling for 42% of the two cores' time; bench/HISTORY.md, "Sixteenth
 * session"). Only the first model of a process runs cold; later ones find the shared kernels compiled.
 *
 * With {@code --batch B}, also the decode throughput of B sequences generated side by side ({@link BatchGenerator}).
 *
 * The last column says how the model file's resident pages were mapped at the end: the share of them mapped 2 MiB
 * at a time ({@code FilePmdMapped} over {@code Rss} in {@code /proc/self/smaps}; "-" where unknown). It depends on
 * how the file came into the page cache, not on Kestrel, and moves decode speed by up to 1.7x (bench/HISTORY.md, "Twelfth
 * session"): compare runs, and engines, only at similar shares.
 *
 * {@code --kv-cache f16} keeps the attention keys and values in half precision ({@link LanguageModel#setKvCacheType}).
 *
 * <pre>java -cp bench/target/benchmarks.jar ai.kestrel.bench.EndToEnd MODEL... [--prompt 512] [--decode 32] [--threads 2] [--batch 8] [--kv-cache f16]</pre>
 */
public final class EndToEnd {
    private EndToEnd() {
    }

    public static void main(String[] args) throws Exception {
        int prompt = 512;
        int decode = 32;
        int repeats = 3;
        int batch = 0;
        ai.kestrel.engine.DType kv = ai.kestrel.engine.DType.F32;
        java.util.List<Path> models = new java.util.ArrayList<>();
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--prompt" -> prompt = Integer.parseInt(args[++i]);
                case "--decode" -> decode = Integer.parseInt(args[++i]);
                case "--repeats" -> repeats = Integer.parseInt(args[++i]);
                case "--threads" -> Parallel.setThreads(Integer.parseInt(args[++i]));
                case "--batch" -> batch = Integer.parseInt(args[++i]);
                case "--kv-cache" -> kv = ai.kestrel.engine.DType.valueOf(args[++i].toUpperCase(Locale.ROOT));
                default -> models.add(Path.of(args[i]));
            }
        }
        String batchCol = batch > 1 ? " batch-" + batch + " decode tok/s |" : "";
        System.out.printf(Locale.ROOT, "| model | load s | prefill %d tok/s | decode tok/s (%d steps) |%s peak RSS GB | file in 2 MiB maps "
                + "| first run s (prefill + decode) |%n|---|---|---|---|%s---|---|---|%n", prompt, decode, batchCol, batch > 1 ? "---|" : "");
        for (Path p : models) {
            long t0 = System.nanoTime();
            try (LoadedModel m = ModelLoader.load(p)) {
                double load = (System.nanoTime() - t0) / 1e9;
                LanguageModel model = m.model();
                model.setKvCacheType(kv);
                SplittableRandom rnd = new SplittableRandom(1);
                int[] ids = new int[prompt];
                for (int i = 0; i < ids.length; i++) {
                    ids[i] = 12 + rnd.nextInt(200);
                }
                double[] first = run(model, ids, decode); // warm-up: one whole run, as bench/llamacpp/bench.mjs gives llama.cpp
                double[] pre = new double[repeats];
                double[] dec = new double[repeats];
                for (int r = 0; r < repeats; r++) {
                    double[] t = run(model, ids, decode);
                    pre[r] = prompt / t[0];
                    dec[r] = decode / t[1];
                }
                Arrays.sort(pre);
                Arrays.sort(dec);
                String batched = "";
                if (batch > 1) {
                    double[] b = new double[repeats];
                    for (int r = 0; r < repeats; r++) {
                        b[r] = batchedDecode(model, m.requireTokenizer(), Arrays.copyOf(ids, Math.min(64, prompt)), decode, batch);
                    }
                    Arrays.sort(b);
                    batched = String.format(Locale.ROOT, " %.2f |", b[repeats / 2]);
                }
                double huge = hugeMappedShare(p);
                System.out.printf(Locale.ROOT, "| %s | %.1f | %.1f | %.2f |%s %.2f | %s | %.1f + %.1f |%n", p.getFileName(), load, pre[repeats / 2],
                        dec[repeats / 2], batched, peakRssBytes() / 1e9, huge < 0 ? "-" : String.format(Locale.ROOT, "%.0f%%", 100 * huge),
                        first[0], first[1]);
                System.out.flush();
            }
        }
    }

    /**
     * Decode throughput of {@code batch} sampled sequences from one prompt through continuous batching (one shared
     * prefill, then all rows stepping together): generated tokens over the time after the prefill.
     */
    static double batchedDecode(LanguageModel model, ai.kestrel.model.tokenizer.Tokenizer tok, int[] prompt, int steps, int batch) {
        java.util.List<BatchGenerator.Request> reqs = new java.util.ArrayList<>();
        for (int i = 0; i < batch; i++) {
            reqs.add(new BatchGenerator.Request(prompt, new Generator.Options(steps, Sampler.sampling(1.0, 0, 1.0, i), java.util.Set.of(),
                    java.util.List.of(), Generator.LoopPolicy.IGNORE, 0), null, null, null));
        }
        long t0 = System.nanoTime();
        java.util.List<Generator.Result> rs = BatchGenerator.generate(model, tok, reqs, batch);
        double total = (System.nanoTime() - t0) / 1e9;
        double prefill = rs.stream().mapToDouble(Generator.Result::prefillSeconds).sum();
        long tokens = rs.stream().mapToLong(r -> r.ids().length).sum();
        return tokens / (total - prefill);
    }

    /** {prefill seconds, decode seconds}. */
    static double[] run(LanguageModel model, int[] prompt, int steps) {
        try (LanguageModel.Cache cache = model.newCache(1, prompt.length + steps + 1); var ng = Autograd.noGrad()) {
            long t0 = System.nanoTime();
            int next;
            try (Scope s = Scope.open()) {
                Tensor out = model.forwardLast(Tensor.ofInts(prompt, 1, prompt.length), cache);
                next = argmaxLast(out);
            }
            long t1 = System.nanoTime();
            for (int i = 0; i < steps; i++) {
                try (Scope s = Scope.open()) {
                    next = argmaxLast(model.forwardLast(Tensor.ofInts(new int[] {next}, 1, 1), cache));
                }
            }
            long t2 = System.nanoTime();
            return new double[] {(t1 - t0) / 1e9, (t2 - t1) / 1e9};
        }
    }

    static int argmaxLast(Tensor logits) {
        int t = logits.dim(1);
        int v = logits.dim(2);
        int best = 0;
        double bv = Double.NEGATIVE_INFINITY;
        for (int i = 0; i < v; i++) {
            double x = logits.getDouble((long) (t - 1) * v + i);
            if (x > bv) {
                bv = x;
                best = i;
            }
        }
        return best;
    }

    /**
     * Of the resident pages of this process's mappings of {@code model} (a file, or the files under a folder), the
     * share mapped by 2 MiB page-table entries, from {@code /proc/self/smaps}; -1 where that cannot be read or no
     * page of the model is resident.
     */
    static double hugeMappedShare(Path model) {
        long rss = 0;
        long pmd = 0;
        boolean inModel = false;
        try {
            String file = model.toRealPath().toString(); // smaps names the file a link points to
            String under = file + "/";
            for (String line : Files.readAllLines(Path.of("/proc/self/smaps"))) {
                String[] f = line.trim().split("\\s+", 6);
                if (f.length >= 5 && f[0].matches("[0-9a-f]+-[0-9a-f]+")) {
                    // a mapping's header: address range, permissions, offset, device, inode, then the path if any
                    String path = f.length == 6 ? f[5].trim() : "";
                    inModel = path.equals(file) || path.startsWith(under);
                } else if (inModel && f.length >= 2 && (f[0].equals("Rss:") || f[0].equals("FilePmdMapped:"))) {
                    long kb = Long.parseLong(f[1]);
                    if (f[0].equals("Rss:")) {
                        rss += kb;
                    } else {
                        pmd += kb;
                    }
                }
            }
        } catch (java.io.IOException | RuntimeException e) {
            return -1;
        }
        return rss == 0 ? -1 : (double) pmd / rss;
    }

    static long peakRssBytes() throws java.io.IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith("VmHWM:")) {
                return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
            }
        }
        return -1;
    }
}
