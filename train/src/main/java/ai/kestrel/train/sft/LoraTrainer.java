package ai.kestrel.train.sft;

import ai.kestrel.engine.Autograd;
import ai.kestrel.engine.Scope;
import ai.kestrel.engine.Tensor;
import ai.kestrel.engine.ops.Arith;
import ai.kestrel.engine.ops.Losses;
import ai.kestrel.engine.ops.Shapes;
import ai.kestrel.engine.optim.AdamW;
import ai.kestrel.engine.optim.GradClip;
import ai.kestrel.model.falconh1.FalconH1;
import ai.kestrel.model.lora.Lora;
import java.util.ArrayList;
import java.util.List;

/**
 * The supervised fine-tuning loop for a LoRA adapter on a frozen Falcon-H1 base, as Hugging Face's Trainer runs
 * it: the causal-LM loss (position t predicts token t+1, labels of -100 left out), gradients accumulated over
 * {@code gradAccum} micro-batches and normalised by the number of predicted tokens in the whole accumulated batch
 * (transformers' {@code num_items_in_batch}), clipping of the global gradient norm, AdamW with a schedule whose
 * step 0 is the first update, activation checkpointing per layer. A NaN or infinite loss or gradient stops training with a clear message before the
 * adapter is touched.
 */
public final class LoraTrainer implements AutoCloseable {
    /** One tokenized example: model inputs and labels of the same length (-100 where no loss is taken). */
    public record Example(int[] inputIds, int[] labels) {
        public Example {
            if (inputIds.length != labels.length || inputIds.length < 2) {
                throw new IllegalArgumentException("an example needs input_ids and labels of one length >= 2, got "
                        + inputIds.length + " and " + labels.length);
            }
        }
    }

    /** The optimisation settings (the seed recipe: lr 2e-4, batch 2, accumulation 2, clip 1.0, no decay). */
    public record Settings(double lr, Schedule schedule, int batch, int gradAccum, double maxGradNorm, double weightDecay, int padId) {
        public Settings {
            if (!(lr > 0) || batch < 1 || gradAccum < 1) {
                throw new IllegalArgumentException("lr must be > 0 and batch, grad_accum >= 1; got " + lr + ", " + batch + ", " + gradAccum);
            }
        }
    }

    /**
     * What one optimizer step measured; {@code peakBytes} is the engine memory in use at the step's height on the
     * model's device (weights, adapter, optimizer state and the step's tensors; {@link ai.kestrel.engine.Device#peakBytes()}).
     */
    public record StepMetrics(long step, double loss, double tokenAccuracy, double lr, double gradNorm, int tokens, double seconds,
            long peakBytes) {
    }

    private final FalconH1 model;
    private final Lora lora;
    private final Settings settings;
    private final AdamW optimizer;
    private final List<Tensor> params;
    private long seed;

    public LoraTrainer(FalconH1 model, Lora lora, Settings settings) {
        this.model = model;
        this.lora = lora;
        this.settings = settings;
        this.params = new ArrayList<>(lora.parameters().values());
        this.optimizer = new AdamW(params, settings.lr(), 0.9, 0.999, 1e-8, settings.weightDecay());
        model.setAdapter(lora);
        model.setActivationCheckpointing(true);
    }

    /** The seed LoRA dropout masks derive from (with the step and the micro-batch). */
    public void setSeed(long seed) {
        this.seed = seed;
    }

    /** Activation checkpointing per layer (on by default: memory holds one layer's activations at a time). */
    public void setActivationCheckpointing(boolean on) {
        model.setActivationCheckpointing(on);
    }

    /**
     * Selective checkpointing: each layer's matrix-product outputs kept from the forward pass and not recomputed in
     * backward (off by default; {@link FalconH1#setKeepProducts}): faster steps, more memory, the same gradients.
     */
    public void setKeepProducts(boolean on) {
        model.setKeepProducts(on);
    }

    public AdamW optimizer() {
        return optimizer;
    }

    /**
     * One optimizer step over {@code batch * gradAccum} examples (in order: micro-batch {@code j} takes
     * examples {@code [j*batch, (j+1)*batch)}).
     */
    public StepMetrics step(List<Example> examples) {
        int need = settings.batch() * settings.gradAccum();
        if (examples.size() != need) {
            throw new IllegalArgumentException("a step takes batch * grad_accum = " + need + " examples, got " + examples.size());
        }
        long t0 = System.nanoTime();
        model.device().resetPeak();
        long step = optimizer.stepCount();
        double lr = settings.lr() * settings.schedule().factor(step);
        optimizer.setLearningRate(lr);
        // zeroed in place: a cleared gradient's memory stays in the adapter's scope until the adapter is closed, so
        // clearing them leaked one copy of every adapter parameter per step (58 KB a step on the test fixture, tens of
        // MB on Falcon-H1-0.5B)
        for (Tensor p : params) {
            p.zeroGrad();
        }
        int total = 0;
        for (Example e : examples) {
            total += predicted(e);
        }
        double lossSum = 0;
        int correct = 0;
        int tokens = 0;
        for (int j = 0; j < settings.gradAccum(); j++) {
            List<Example> micro = examples.subList(j * settings.batch(), (j + 1) * settings.batch());
            try (Scope s = Scope.open()) {
                int t = 0;
                for (Example e : micro) {
                    t = Math.max(t, e.inputIds().length);
                }
                int b = micro.size();
                int[] ids = new int[b * t];
                int[] shifted = new int[b * (t - 1)];
                java.util.Arrays.fill(ids, settings.padId());
                java.util.Arrays.fill(shifted, -100);
                int count = 0;
                for (int i = 0; i < b; i++) {
                    Example e = micro.get(i);
                    System.arraycopy(e.inputIds(), 0, ids, i * t, e.inputIds().length);
                    for (int k = 1; k < e.labels().length; k++) {
                        shifted[i * (t - 1) + k - 1] = e.labels()[k];
                        if (e.labels()[k] != -100) {
                            count++;
                        }
                    }
                    tokens += e.inputIds().length;
                }
                lora.setTraining(new java.util.SplittableRandom(seed ^ (step * 0x9E3779B97F4A7C15L) ^ (j * 0xBF58476D1CE4E5B9L)).nextLong());
                Tensor logits = model.forward(Tensor.ofInts(ids, b, t), null);
                int v = logits.dim(2);
                Tensor pred = Shapes.narrow(logits, 1, 0, t - 1).view((long) b * (t - 1), v);
                Tensor loss = Losses.crossEntropy(pred, Tensor.ofInts(shifted, (long) b * (t - 1)));
                double l = loss.getDouble(0);
                if (!Double.isFinite(l)) {
                    throw new IllegalStateException("training step " + step + ": the loss is " + l + " (micro-batch " + j
                            + "); the adapter was not updated");
                }
                lossSum += l * count;
                correct += correct(pred, shifted);
                if (count > 0) {
                    // the micro-batch mean weighted by its share of the predicted tokens: the gradient of the mean
                    // over the whole accumulated batch
                    Autograd.backward(Arith.scale(loss, (double) count / total));
                }
            } finally {
                lora.setTraining(null);
            }
        }
        double norm = GradClip.clipGlobalNorm(params, settings.maxGradNorm());
        if (!Double.isFinite(norm)) {
            throw new IllegalStateException("training step " + step + ": the gradient norm is " + norm + "; the adapter was not updated");
        }
        optimizer.update();
        return new StepMetrics(step, total == 0 ? 0 : lossSum / total, total == 0 ? 0 : (double) correct / total, lr, norm, tokens,
                (System.nanoTime() - t0) / 1e9, model.device().peakBytes());
    }

    private static int predicted(Example e) {
        int n = 0;
        for (int k = 1; k < e.labels().length; k++) {
            if (e.labels()[k] != -100) {
                n++;
            }
        }
        return n;
    }

    /** Positions whose arg-max logit is the label (read in place: no copy of the (rows, vocab) logits). */
    private static int correct(Tensor pred, int[] labels) {
        int v = pred.dim(1);
        if (pred.device() == ai.kestrel.engine.Device.CUDA) {
            // arg-max on the GPU: the (rows, vocab) logits never cross to the host
            int[] best = ai.kestrel.kernels.cuda.ElementwiseCuda.argmaxRows(pred.buf(), labels.length, v);
            int n = 0;
            for (int r = 0; r < labels.length; r++) {
                if (labels[r] != -100 && best[r] == labels[r]) {
                    n++;
                }
            }
            return n;
        }
        boolean f64 = pred.dtype() == ai.kestrel.engine.DType.F64;
        java.lang.foreign.MemorySegment seg = pred.segment();
        int n = 0;
        for (int r = 0; r < labels.length; r++) {
            if (labels[r] == -100) {
                continue;
            }
            long base = (long) r * v;
            int best = 0;
            double bestV = f64 ? seg.getAtIndex(ai.kestrel.kernels.Buf.F64, base) : seg.getAtIndex(ai.kestrel.kernels.Buf.F32, base);
            for (int c = 1; c < v; c++) {
                double x = f64 ? seg.getAtIndex(ai.kestrel.kernels.Buf.F64, base + c) : seg.getAtIndex(ai.kestrel.kernels.Buf.F32, base + c);
                if (x > bestV) {
                    best = c;
                    bestV = x;
                }
            }
            if (best == labels[r]) {
                n++;
            }
        }
        return n;
    }

    @Override
    public void close() {
        optimizer.close();
        model.setAdapter(null);
        model.setActivationCheckpointing(false);
        model.setKeepProducts(false);
    }
}
