package ai.kestrel.model.falconh1;

import ai.kestrel.engine.Autograd;
import ai.kestrel.engine.DType;
import ai.kestrel.engine.Scope;
import ai.kestrel.engine.Tensor;
import ai.kestrel.engine.io.BnbNf4;
import ai.kestrel.engine.io.Gguf;
import ai.kestrel.engine.io.SafeTensorsFolder;
import ai.kestrel.engine.io.TensorFileException;
import ai.kestrel.engine.io.TensorSource;
import ai.kestrel.engine.ops.Casts;
import ai.kestrel.model.config.FalconH1Config;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

/**
 * Loads Falcon-H1 weights from a Hugging Face folder (config.json + safetensors) or a GGUF file (arch
 * {@code falcon-h1}, as llama.cpp's converter writes it: muP multipliers folded into the weights, A stored as
 * {@code -exp(A_log)}, conv1d squeezed). Matrices stay in their stored dtype and memory-mapped; vectors
 * (norms, biases, A, D) become float32. A model from a GGUF file computes its products as llama.cpp does
 * ({@link ai.kestrel.engine.ops.Numerics#GGML}), one from a folder as transformers does.
 */
public final class FalconH1Loader {
    private FalconH1Loader() {
    }

    /** From a Hugging Face model folder. */
    public static FalconH1 fromHuggingFace(Path dir) throws IOException {
        FalconH1Config c = FalconH1Config.fromJson(dir.resolve("config.json"));
        Scope weights = Scope.detached("falcon-h1 weights");
        try (var in = weights.enter(); var ng = Autograd.noGrad()) {
            TensorSource src = SafeTensorsFolder.open(dir, weights);
            Reader r = new Reader(src, c);
            FalconH1Layer[] layers = new FalconH1Layer[c.numLayers()];
            for (int i = 0; i < layers.length; i++) {
                String p = "model.layers." + i + ".";
                Tensor aLog = r.vector(p + "mamba.A_log", c.mambaHeads());
                Tensor a = Tensor.zeros(DType.F32, c.mambaHeads());
                for (int h = 0; h < c.mambaHeads(); h++) {
                    a.setDouble(h, -Math.exp(aLog.getDouble(h)));
                }
                layers[i] = new FalconH1Layer(
                        r.vector(p + "input_layernorm.weight", c.hiddenSize()),
                        r.vector(p + "pre_ff_layernorm.weight", c.hiddenSize()),
                        r.matrix(p + "self_attn.q_proj.weight", c.numAttentionHeads() * c.headDim(), c.hiddenSize()),
                        r.matrix(p + "self_attn.k_proj.weight", c.numKeyValueHeads() * c.headDim(), c.hiddenSize()),
                        r.matrix(p + "self_attn.v_proj.weight", c.numKeyValueHeads() * c.headDim(), c.hiddenSize()),
                        r.matrix(p + "self_attn.o_proj.weight", c.hiddenSize(), c.numAttentionHeads() * c.headDim()),
                        r.matrix(p + "mamba.in_proj.weight", c.inProjSize(), c.hiddenSize()),
                        r.floats(p + "mamba.conv1d.weight", new long[] {c.convDim(), 1, c.mambaDConv()}).view(c.convDim(), c.mambaDConv()),
                        c.mambaConvBias() ? r.vector(p + "mamba.conv1d.bias", c.convDim()) : null,
                        r.vector(p + "mamba.dt_bias", c.mambaHeads()),
                        a,
                        r.vector(p + "mamba.D", c.mambaHeads()),
                        c.mambaRmsNorm() ? r.vector(p + "mamba.norm.weight", c.dSsm()) : null,
                        r.matrix(p + "mamba.out_proj.weight", c.hiddenSize(), c.dSsm()),
                        r.matrix(p + "feed_forward.gate_proj.weight", c.intermediateSize(), c.hiddenSize()),
                        r.matrix(p + "feed_forward.up_proj.weight", c.intermediateSize(), c.hiddenSize()),
                        r.matrix(p + "feed_forward.down_proj.weight", c.hiddenSize(), c.intermediateSize()));
            }
            Tensor embed = r.matrix("model.embed_tokens.weight", c.vocabSize(), c.hiddenSize());
            Tensor head = src.has("lm_head.weight") || !c.tieWordEmbeddings() ? r.matrix("lm_head.weight", c.vocabSize(), c.hiddenSize()) : embed;
            return new FalconH1(c, false, embed, r.vector("model.final_layernorm.weight", c.hiddenSize()), head, layers,
                    mupVector(c), weights, dir.toString());
        } catch (IOException | RuntimeException e) {
            weights.close();
            throw e;
        }
    }

    /** The in_proj output multipliers: {@code ssm_multipliers[k]} over the rows of {@code z | x | B | C | dt}. */
    static Tensor mupVector(FalconH1Config c) {
        List<Double> m = c.mup().ssm();
        int gn = c.mambaGroups() * c.mambaDState();
        int[] sizes = {c.dSsm(), c.dSsm(), gn, gn, c.mambaHeads()};
        Tensor v = Tensor.zeros(DType.F32, c.inProjSize());
        int at = 0;
        for (int k = 0; k < 5; k++) {
            for (int i = 0; i < sizes[k]; i++) {
                v.setDouble(at++, m.get(k));
            }
        }
        return v;
    }

    /** From a GGUF file of architecture {@code falcon-h1}. */
    public static FalconH1 fromGguf(Path file) throws IOException {
        Scope weights = Scope.detached("falcon-h1 weights");
        try (var in = weights.enter(); var ng = Autograd.noGrad()) {
            Gguf g = Gguf.open(file, weights);
            FalconH1Config c = configOf(g);
            Reader r = new Reader(g, c);
            FalconH1Layer[] layers = new FalconH1Layer[c.numLayers()];
            for (int i = 0; i < layers.length; i++) {
                String p = "blk." + i + ".";
                layers[i] = new FalconH1Layer(
                        r.vector(p + "attn_norm.weight", c.hiddenSize()),
                        r.vector(p + "ffn_norm", c.hiddenSize()),
                        r.matrix(p + "attn_q.weight", c.numAttentionHeads() * c.headDim(), c.hiddenSize()),
                        r.matrix(p + "attn_k.weight", c.numKeyValueHeads() * c.headDim(), c.hiddenSize()),
                        r.matrix(p + "attn_v.weight", c.numKeyValueHeads() * c.headDim(), c.hiddenSize()),
                        r.matrix(p + "attn_output.weight", c.hiddenSize(), c.numAttentionHeads() * c.headDim()),
                        r.matrix(p + "ssm_in.weight", c.inProjSize(), c.hiddenSize()),
                        r.floats(p + "ssm_conv1d.weight", new long[] {c.convDim(), c.mambaDConv()}),
                        g.has(p + "ssm_conv1d.bias") ? r.vector(p + "ssm_conv1d.bias", c.convDim()) : null,
                        r.vector(p + "ssm_dt.bias", c.mambaHeads()),
                        r.floats(p + "ssm_a", new long[] {c.mambaHeads(), 1}).view(c.mambaHeads()),
                        r.floats(p + "ssm_d", new long[] {c.mambaHeads(), 1}).view(c.mambaHeads()),
                        c.mambaRmsNorm() ? r.floats(p + "ssm_norm.weight", new long[] {c.mambaGroups(), c.dSsm() / c.mambaGroups()}).view(c.dSsm()) : null,
                        r.matrix(p + "ssm_out.weight", c.hiddenSize(), c.dSsm()),
                        r.matrix(p + "ffn_gate.weight", c.intermediateSize(), c.hiddenSize()),
                        r.matrix(p + "ffn_up.weight", c.intermediateSize(), c.hiddenSize()),
                        r.matrix(p + "ffn_down.weight", c.hiddenSize(), c.intermediateSize()));
            }
            Tensor embed = r.matrix("token_embd.weight", c.vocabSize(), c.hiddenSize());
            // llama.cpp reuses token_embd when output is absent (tied); its embedding multiplier is then in the head too
            Tensor head = g.has("output.weight") ? r.matrix("output.weight", c.vocabSize(), c.hiddenSize()) : embed;
            FalconH1 model = new FalconH1(c, true, embed, r.vector("output_norm.weight", c.hiddenSize()), head, layers, null, weights,
                    file.toString());
            model.setNumerics(ai.kestrel.engine.ops.Numerics.GGML); // a GGUF file's reference is llama.cpp
            return model;
        } catch (IOException | RuntimeException e) {
            weights.close();
            throw e;
        }
    }

    /** The config a falcon-h1 GGUF describes (multipliers folded: all 1; chunk length 128, which changes no result). */
    static FalconH1Config configOf(Gguf g) {
        String arch = g.getString("general.architecture");
        if (!arch.equals("falcon-h1")) {
            throw new IllegalArgumentException(g.file().getFileName() + ": architecture '" + arch + "' is not falcon-h1");
        }
        String p = "falcon-h1.";
        int hidden = (int) g.getLong(p + "embedding_length");
        int heads = (int) g.getLong(p + "attention.head_count");
        int dSsm = (int) g.getLong(p + "ssm.inner_size");
        int mHeads = (int) g.getLong(p + "ssm.time_step_rank");
        int vocab = (int) g.shape("token_embd.weight")[0];
        var ones = new FalconH1Config.Mup(1, 1, 1, 1, 1, 1, 1, List.of(1.0, 1.0, 1.0, 1.0, 1.0), List.of(1.0, 1.0));
        List<Integer> eos = g.metadata().containsKey("tokenizer.ggml.eos_token_id") ? List.of((int) g.getLong("tokenizer.ggml.eos_token_id")) : List.of();
        return new FalconH1Config(vocab, hidden, (int) g.getLong(p + "feed_forward_length"), (int) g.getLong(p + "block_count"),
                heads, (int) g.getLong(p + "attention.head_count_kv"), (int) g.getLong(p + "attention.key_length", hidden / heads),
                g.getDouble(p + "rope.freq_base", 1e4), g.getDouble(p + "attention.layer_norm_rms_epsilon"),
                (int) g.getLong(p + "context_length"), false, false, false, dSsm, mHeads, dSsm / mHeads,
                (int) g.getLong(p + "ssm.state_size"), (int) g.getLong(p + "ssm.group_count", 1), (int) g.getLong(p + "ssm.conv_kernel"),
                128, g.has("blk.0.ssm_conv1d.bias"), false, g.has("blk.0.ssm_norm.weight"), false, !g.has("output.weight"),
                (int) g.getLong("tokenizer.ggml.bos_token_id", -1), eos, (int) g.getLong("tokenizer.ggml.padding_token_id", -1), ones);
    }

    /** Reads tensors with shape checks that name the tensor and the source. */
    record Reader(TensorSource src, FalconH1Config c) {
        Tensor raw(String name, long[] shape) throws TensorFileException {
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

        /** A weight matrix in its stored dtype; a bitsandbytes 4-bit weight becomes an NF4 tensor. */
        Tensor matrix(String name, long rows, long cols) throws TensorFileException {
            if (name.endsWith("weight")) {
                String prefix = name.substring(0, name.length() - "weight".length());
                if (BnbNf4.isQuantized(src, prefix)) {
                    Tensor t = BnbNf4.read(src, prefix);
                    if (!Arrays.equals(t.shape(), new long[] {rows, cols})) {
                        throw new TensorFileException(Path.of(src.describe()), "4-bit tensor '" + name + "' has shape "
                                + Arrays.toString(t.shape()) + ", the config implies [" + rows + ", " + cols + "]");
                    }
                    return t;
                }
            }
            return raw(name, new long[] {rows, cols});
        }

        /** Any small tensor, converted to float32. */
        Tensor floats(String name, long[] shape) throws TensorFileException {
            Tensor t = raw(name, shape);
            return t.dtype() == DType.F32 ? t : Casts.to(t, DType.F32);
        }

        Tensor vector(String name, long n) throws TensorFileException {
            return floats(name, new long[] {n});
        }
    }
}
