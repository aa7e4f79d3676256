package ai.kestrel.model.falconmamba;

import ai.kestrel.engine.Autograd;
import ai.kestrel.engine.DType;
import ai.kestrel.engine.Scope;
import ai.kestrel.engine.Tensor;
import ai.kestrel.engine.io.Gguf;
import ai.kestrel.engine.io.SafeTensorsFolder;
import ai.kestrel.engine.io.TensorFileException;
import ai.kestrel.engine.io.TensorSource;
import ai.kestrel.engine.ops.Casts;
import ai.kestrel.model.config.FalconMambaConfig;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

/** Loads Falcon-Mamba from a Hugging Face folder or a GGUF file of architecture {@code mamba}. */
public final class FalconMambaLoader {
    private FalconMambaLoader() {
    }

    public static FalconMamba fromHuggingFace(Path dir) throws IOException {
        FalconMambaConfig c = FalconMambaConfig.fromJson(dir.resolve("config.json"));
        Scope weights = Scope.detached("falcon-mamba weights");
        try (var in = weights.enter(); var ng = Autograd.noGrad()) {
            TensorSource src = SafeTensorsFolder.open(dir, weights);
            int din = c.intermediateSize();
            int n = c.stateSize();
            int r = c.timeStepRank();
            FalconMamba.Layer[] layers = new FalconMamba.Layer[c.numLayers()];
            for (int i = 0; i < layers.length; i++) {
                String p = "backbone.layers." + i + ".";
                Tensor aLog = floats(src, p + "mixer.A_log", din, n);
                Tensor a = Tensor.zeros(DType.F32, din, n);
                for (long k = 0; k < a.numel(); k++) {
                    a.setDouble(k, -Math.exp(aLog.getDouble(k)));
                }
                layers[i] = new FalconMamba.Layer(floats(src, p + "norm.weight", c.hiddenSize()),
                        raw(src, p + "mixer.in_proj.weight", 2L * din, c.hiddenSize()),
                        floats(src, p + "mixer.conv1d.weight", din, 1, c.convKernel()).view(din, c.convKernel()),
                        c.useConvBias() ? floats(src, p + "mixer.conv1d.bias", din) : null,
                        raw(src, p + "mixer.x_proj.weight", r + 2L * n, din),
                        raw(src, p + "mixer.dt_proj.weight", din, r),
                        floats(src, p + "mixer.dt_proj.bias", din),
                        a,
                        floats(src, p + "mixer.D", din),
                        raw(src, p + "mixer.out_proj.weight", c.hiddenSize(), din));
            }
            Tensor embed = raw(src, "backbone.embeddings.weight", c.vocabSize(), c.hiddenSize());
            Tensor head = src.has("lm_head.weight") ? raw(src, "lm_head.weight", c.vocabSize(), c.hiddenSize()) : embed;
            return new FalconMamba(c, embed, floats(src, "backbone.norm_f.weight", c.hiddenSize()), head, layers, c.mixerRmsEps(), weights,
                    dir.toString());
        } catch (IOException | RuntimeException e) {
            weights.close();
            throw e;
        }
    }

    public static FalconMamba fromGguf(Path file) throws IOException {
        Scope weights = Scope.detached("falcon-mamba weights");
        try (var in = weights.enter(); var ng = Autograd.noGrad()) {
            Gguf g = Gguf.open(file, weights);
            String arch = g.getString("general.architecture");
            if (!arch.equals("mamba")) {
                throw new IllegalArgumentException(file.getFileName() + ": architecture '" + arch + "' is not mamba");
            }
            if (!g.getBool("mamba.ssm.dt_b_c_rms", false)) {
                throw new IllegalArgumentException(file.getFileName() + ": a plain Mamba-1 model (mamba.ssm.dt_b_c_rms is not set); Kestrel runs Falcon-Mamba");
            }
            int hidden = (int) g.getLong("mamba.embedding_length");
            int din = (int) g.getLong("mamba.ssm.inner_size");
            int n = (int) g.getLong("mamba.ssm.state_size");
            int r = (int) g.getLong("mamba.ssm.time_step_rank");
            int w = (int) g.getLong("mamba.ssm.conv_kernel");
            double eps = g.getDouble("mamba.attention.layer_norm_rms_epsilon");
            int vocab = (int) g.shape("token_embd.weight")[0];
            List<Integer> eos = g.metadata().containsKey("tokenizer.ggml.eos_token_id") ? List.of((int) g.getLong("tokenizer.ggml.eos_token_id")) : List.of();
            FalconMambaConfig c = new FalconMambaConfig(vocab, hidden, din, (int) g.getLong("mamba.block_count"), n, w, r, eps, eps, false,
                    g.has("blk.0.ssm_conv1d.bias"), !g.has("output.weight"), (int) g.getLong("tokenizer.ggml.bos_token_id", -1), eos,
                    (int) g.getLong("tokenizer.ggml.padding_token_id", -1));
            FalconMamba.Layer[] layers = new FalconMamba.Layer[c.numLayers()];
            for (int i = 0; i < layers.length; i++) {
                String p = "blk." + i + ".";
                layers[i] = new FalconMamba.Layer(floats(g, p + "attn_norm.weight", hidden),
                        raw(g, p + "ssm_in.weight", 2L * din, hidden),
                        floats(g, p + "ssm_conv1d.weight", din, w),
                        c.useConvBias() ? floats(g, p + "ssm_conv1d.bias", din) : null,
                        raw(g, p + "ssm_x.weight", r + 2L * n, din),
                        raw(g, p + "ssm_dt.weight", din, r),
                        floats(g, p + "ssm_dt.bias", din),
                        floats(g, p + "ssm_a", din, n),
                        floats(g, p + "ssm_d", din),
                        raw(g, p + "ssm_out.weight", hidden, din));
            }
            Tensor embed = raw(g, "token_embd.weight", vocab, hidden);
            Tensor head = g.has("output.weight") ? raw(g, "output.weight", vocab, hidden) : embed;
            FalconMamba model = new FalconMamba(c, embed, floats(g, "output_norm.weight", hidden), head, layers, eps, weights, file.toString());
            model.setNumerics(ai.kestrel.engine.ops.Numerics.GGML); // a GGUF file's reference is llama.cpp
            return model;
        } catch (IOException | RuntimeException e) {
            weights.close();
            throw e;
        }
    }

    private static Tensor raw(TensorSource src, String name, long... shape) throws TensorFileException {
        if (!src.has(name)) {
            throw new TensorFileException(Path.of(src.describe()), "missing tensor '" + name + "'");
        }
        long[] got = src.shape(name);
        if (!Arrays.equals(got, shape)) {
            throw new TensorFileException(Path.of(src.describe()), "tensor '" + name + "' has shape " + Arrays.toString(got)
                    + ", the config implies " + Arrays.toString(shape));
        }
        return src.tensor(name);
    }

    private static Tensor floats(TensorSource src, String name, long... shape) throws TensorFileException {
        Tensor t = raw(src, name, shape);
        return t.dtype() == DType.F32 ? t : Casts.to(t, DType.F32);
    }
}
