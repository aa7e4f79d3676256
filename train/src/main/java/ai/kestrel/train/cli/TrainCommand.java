package ai.kestrel.train.cli;

import ai.kestrel.engine.Scope;
import ai.kestrel.model.LoadedModel;
import ai.kestrel.model.Quantizer;
import ai.kestrel.model.falconh1.FalconH1;
import ai.kestrel.model.lora.Lora;
import ai.kestrel.model.lora.LoraConfig;
import ai.kestrel.train.sft.LoraTrainer;
import ai.kestrel.train.sft.Schedule;
import ai.kestrel.train.sft.SftData;
import ai.kestrel.train.sft.SftRun;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code ./kestrel train}: LoRA / QLoRA supervised fine-tuning of a Falcon-H1 model, with the seed recipe as defaults. */
@Command(name = "train", mixinStandardHelpOptions = true,
        description = "Fine-tune a LoRA adapter on a Falcon-H1 Hugging Face model (QLoRA with --qlora): MetaMathQA, GSM8K, chat or "
                + "pre-tokenized JSONL; writes adapter_config.json and adapter_model.safetensors (PEFT's format), metrics.jsonl and "
                + "checkpoints to --out.")
final class TrainCommand implements Callable<Integer> {
    @Mixin
    ModelOptions model;

    @Option(names = "--data", required = true, paramLabel = "FILE", description = "Training data (JSONL or a JSON array).")
    Path data;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "Where the adapter, metrics and checkpoints go.")
    Path out;

    @Option(names = "--chat-template", paramLabel = "FILE",
            description = "A Jinja chat template to render text records with, instead of the model's own (needed when it has none).")
    Path chatTemplate;

    @Option(names = "--qlora", description = "Quantize the base to NF4 (bitsandbytes' format, double quantization) before training.")
    boolean qlora;

    @Option(names = "--steps", defaultValue = "0", description = "Optimizer steps (default: --epochs worth).")
    long steps;

    @Option(names = "--epochs", defaultValue = "1", description = "Epochs when --steps is not given (default ${DEFAULT-VALUE}).")
    int epochs;

    @Option(names = "--lora-r", defaultValue = "16", description = "LoRA rank (default ${DEFAULT-VALUE}).")
    int r;

    @Option(names = "--lora-alpha", defaultValue = "32", description = "LoRA alpha (default ${DEFAULT-VALUE}).")
    double alpha;

    @Option(names = "--lora-dropout", defaultValue = "0.05", description = "LoRA dropout, recorded in the adapter (default ${DEFAULT-VALUE}).")
    double dropout;

    @Option(names = "--rslora", description = "Scale by alpha / sqrt(r) (rsLoRA).")
    boolean rslora;

    @Option(names = "--keep-products", description = "Selective activation checkpointing: keep every layer's matrix-product "
            + "outputs from the forward pass instead of recomputing them in backward (same gradients; faster steps for more "
            + "memory, see bench/RESULTS.md).")
    boolean keepProducts;

    @Option(names = "--targets", defaultValue = "q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj,in_proj", split = ",",
            description = "Modules to wrap (default ${DEFAULT-VALUE}); conv1d and out_proj are refused.")
    List<String> targets;

    @Option(names = "--lr", defaultValue = "2e-4", description = "Peak learning rate (default ${DEFAULT-VALUE}).")
    double lr;

    @Option(names = "--warmup", defaultValue = "0.03", description = "Warmup as a fraction of the steps (default ${DEFAULT-VALUE}).")
    double warmup;

    @Option(names = "--schedule", defaultValue = "cosine", description = "cosine, linear, constant or wsd (default ${DEFAULT-VALUE}).")
    String schedule;

    @Option(names = "--decay", defaultValue = "0.1", description = "wsd: decay as a fraction of the steps (default ${DEFAULT-VALUE}).")
    double decay;

    @Option(names = "--weight-decay", defaultValue = "0", description = "AdamW weight decay (default ${DEFAULT-VALUE}).")
    double weightDecay;

    @Option(names = "--max-grad-norm", defaultValue = "1.0", description = "Gradient clipping (default ${DEFAULT-VALUE}).")
    double maxGradNorm;

    @Option(names = "--batch", defaultValue = "2", description = "Examples per micro-batch (default ${DEFAULT-VALUE}).")
    int batch;

    @Option(names = "--grad-accum", defaultValue = "2", description = "Micro-batches per optimizer step (default ${DEFAULT-VALUE}).")
    int gradAccum;

    @Option(names = "--seq-len", defaultValue = "512", description = "Tokens per example at most (default ${DEFAULT-VALUE}).")
    int seqLen;

    @Option(names = "--seed", defaultValue = "0", description = "Seed of the adapter init and the data order (default ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--save-every", defaultValue = "50", description = "Checkpoint every N steps; 0: never (default ${DEFAULT-VALUE}).")
    int saveEvery;

    @Option(names = "--resume", description = "Continue from the newest checkpoint in --out.")
    boolean resume;

    @Override
    public Integer call() throws Exception {
        if (model.adapter != null) {
            throw new IllegalArgumentException("--adapter: train starts a new adapter (use --resume to continue one)");
        }
        LoraConfig cfg = new LoraConfig(r, alpha, dropout, targets, rslora); // refuses bad targets before any work
        try (LoadedModel m = model.load(false)) { // quantized and given its adapter on the host, then moved
            if (!(m.model() instanceof FalconH1 h1)) {
                throw new IllegalArgumentException("--model: train fine-tunes Falcon-H1 models; " + model.model + " is " + m.model().describe()
                        + " (its gradients are open to library code: FalconMamba.layer(i), Autograd.backward)");
            }
            ai.kestrel.model.tokenizer.ChatTemplate template = m.chatTemplate();
            if (chatTemplate != null) {
                template = new ai.kestrel.model.tokenizer.ChatTemplate(java.nio.file.Files.readString(chatTemplate), "", "");
            }
            List<LoraTrainer.Example> examples = new ArrayList<>();
            int skipped = 0;
            for (SftData.Item item : SftData.read(data)) {
                LoraTrainer.Example e = SftData.tokenize(item, m.requireTokenizer(), template, m.addBos() ? m.bosId() : -1, seqLen);
                if (e == null) {
                    skipped++;
                } else {
                    examples.add(e);
                }
            }
            long perEpoch = examples.size() / ((long) batch * gradAccum);
            long total = steps > 0 ? steps : perEpoch * epochs;
            if (total <= 0) {
                throw new IllegalArgumentException("--data: " + examples.size() + " usable examples do not fill one step of --batch " + batch
                        + " x --grad-accum " + gradAccum);
            }
            long w = Schedule.warmupSteps(total, warmup);
            Schedule s = switch (schedule.toLowerCase(Locale.ROOT)) {
                case "cosine" -> new Schedule.Cosine(w, total);
                case "linear" -> new Schedule.Linear(w, total);
                case "constant" -> new Schedule.Constant(w);
                case "wsd" -> Schedule.WarmupStableDecay.of(w, (long) Math.ceil(total * decay), total);
                default -> throw new IllegalArgumentException("--schedule: '" + schedule + "' is not cosine, linear, constant or wsd");
            };
            int eos = m.eosIds().isEmpty() ? 0 : m.eosIds().iterator().next();
            System.out.printf(Locale.ROOT, "%d examples (%d skipped: nothing to learn after --seq-len %d), %d steps, %s schedule, warmup %d%n",
                    examples.size(), skipped, seqLen, total, schedule, w);
            ai.kestrel.engine.Device dev = model.device();
            try (Scope base = qlora ? Quantizer.quantizeInMemory(h1) : null;
                 Lora created = Lora.create(h1, cfg, seed);
                 FalconH1 onDevice = h1.to(dev);
                 Lora lora = created.to(dev)) {
                onDevice.setKeepProducts(keepProducts);
                SftRun run = new SftRun(onDevice, lora, new LoraTrainer.Settings(lr, s, batch, gradAccum, maxGradNorm, weightDecay, eos),
                        examples, seed, total, saveEvery, out, model.model.toString());
                // a progress bar on an interactive terminal; one line per step otherwise (logs, pipes, tests)
                boolean tty = System.console() != null && System.console().isTerminal();
                try (me.tongfei.progressbar.ProgressBar bar = tty ? new me.tongfei.progressbar.ProgressBarBuilder().setTaskName("train")
                        .setInitialMax(total).setStyle(me.tongfei.progressbar.ProgressBarStyle.ASCII).setUpdateIntervalMillis(250).build() : null) {
                    run.run(resume, st -> {
                        String line = String.format(Locale.ROOT, "loss %.4f  acc %.3f  lr %.3g  |g| %.3f  %.0f tok/s  mem %.2f GB", st.loss(),
                                st.tokenAccuracy(), st.lr(), st.gradNorm(), st.tokens() / Math.max(1e-9, st.seconds()), st.peakBytes() / 1e9);
                        if (bar != null) {
                            bar.stepTo(st.step() + 1);
                            bar.setExtraMessage(line);
                        } else {
                            System.out.printf(Locale.ROOT, "step %d/%d  %s%n", st.step() + 1, total, line);
                        }
                    });
                }
            }
            System.out.println("wrote " + out.resolve(Lora.CONFIG) + " and " + out.resolve(Lora.WEIGHTS));
        }
        return 0;
    }
}
