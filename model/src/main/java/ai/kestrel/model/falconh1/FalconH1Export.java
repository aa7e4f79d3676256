package ai.kestrel.model.falconh1;

import ai.kestrel.engine.DType;
import ai.kestrel.engine.Tensor;
import ai.kestrel.engine.io.GgufWriter;
import ai.kestrel.engine.io.SafeTensorsWriter;
import ai.kestrel.kernels.Buf;
import ai.kestrel.model.config.FalconH1Config;
import com.google.gson.GsonBuilder;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * Writes Falcon-H1 weights, given in Hugging Face's layout and semantics, as a Hugging Face folder or as a
 * GGUF file the way llama.cpp's converter ({@code FalconH1Model}) writes one: muP multipliers folded into the
 * weights, {@code A = -exp(A_log)} as {@code [H, 1]}, conv1d squeezed, the gated norm as {@code [G, d_ssm/G]},
 * renamed tensors; matrices in the requested dtype, vectors and the conv weight in F32.
 */
public final class FalconH1Export {
    private FalconH1Export() {
    }

    /** A source of float values per HF tensor name (generated or read), produced one tensor at a time. */
    @FunctionalInterface
    public interface Values {
        float[] get(String hfName, long[] shape);
    }

    /** The HF tensor names and shapes of a config, in checkpoint order. */
    public static Map<String, long[]> hfShapes(FalconH1Config c) {
        Map<String, long[]> m = new LinkedHashMap<>();
        m.put("model.embed_tokens.weight", new long[] {c.vocabSize(), c.hiddenSize()});
        for (int i = 0; i < c.numLayers(); i++) {
            String p = "model.layers." + i + ".";
            m.put(p + "input_layernorm.weight", new long[] {c.hiddenSize()});
            m.put(p + "pre_ff_layernorm.weight", new long[] {c.hiddenSize()});
            m.put(p + "self_attn.q_proj.weight", new long[] {(long) c.numAttentionHeads() * c.headDim(), c.hiddenSize()});
            m.put(p + "self_attn.k_proj.weight", new long[] {(long) c.numKeyValueHeads() * c.headDim(), c.hiddenSize()});
            m.put(p + "self_attn.v_proj.weight", new long[] {(long) c.numKeyValueHeads() * c.headDim(), c.hiddenSize()});
            m.put(p + "self_attn.o_proj.weight", new long[] {c.hiddenSize(), (long) c.numAttentionHeads() * c.headDim()});
            m.put(p + "mamba.in_proj.weight", new long[] {c.inProjSize(), c.hiddenSize()});
            m.put(p + "mamba.conv1d.weight", new long[] {c.convDim(), 1, c.mambaDConv()});
            if (c.mambaConvBias()) {
                m.put(p + "mamba.conv1d.bias", new long[] {c.convDim()});
            }
            m.put(p + "mamba.dt_bias", new long[] {c.mambaHeads()});
            m.put(p + "mamba.A_log", new long[] {c.mambaHeads()});
            m.put(p + "mamba.D", new long[] {c.mambaHeads()});
            if (c.mambaRmsNorm()) {
                m.put(p + "mamba.norm.weight", new long[] {c.dSsm()});
            }
            m.put(p + "mamba.out_proj.weight", new long[] {c.hiddenSize(), c.dSsm()});
            m.put(p + "feed_forward.gate_proj.weight", new long[] {c.intermediateSize(), c.hiddenSize()});
            m.put(p + "feed_forward.up_proj.weight", new long[] {c.intermediateSize(), c.hiddenSize()});
            m.put(p + "feed_forward.down_proj.weight", new long[] {c.hiddenSize(), c.intermediateSize()});
        }
        m.put("model.final_layernorm.weight", new long[] {c.hiddenSize()});
        if (!c.tieWordEmbeddings()) {
            m.put("lm_head.weight", new long[] {c.vocabSize(), c.hiddenSize()});
        }
        return m;
    }

    static Tensor encode(float[] v, long[] shape, DType dtype) {
        Tensor f = Tensor.zeros(DType.F32, shape);
        MemorySegment.copy(v, 0, f.segment(), Buf.F32, 0, v.length);
        return dtype == DType.F32 ? f : ai.kestrel.engine.ops.Casts.to(f, dtype);
    }

    /** Writes a Hugging Face folder: config.json (from {@code configJson}), model.safetensors, and the given extra files. */
    public static void writeHuggingFace(Path dir, FalconH1Config c, String configJson, Values values, DType dtype,
                                        Map<String, String> extraFiles) throws IOException {
        if (dtype != DType.F32 && dtype != DType.BF16 && dtype != DType.F16) {
            throw new IllegalArgumentException("a Hugging Face folder holds F32, BF16 or F16 weights; " + dtype + " needs GGUF");
        }
        Files.createDirectories(dir);
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        for (var e : hfShapes(c).entrySet()) {
            tensors.put(e.getKey(), encode(values.get(e.getKey(), e.getValue()), e.getValue(), dtype));
        }
        SafeTensorsWriter.write(dir.resolve("model.safetensors"), tensors, Map.of("format", "pt"));
        Files.writeString(dir.resolve("config.json"), configJson, StandardCharsets.UTF_8);
        for (var e : extraFiles.entrySet()) {
            Files.writeString(dir.resolve(e.getKey()), e.getValue(), StandardCharsets.UTF_8);
        }
    }

    /** Writes a GGUF file with the multipliers folded, as llama.cpp's converter would from the same weights. */
    public static void writeGguf(Path file, FalconH1Config c, Values values, DType dtype, Function<GgufWriter, GgufWriter> tokenizer,
                                 String name) throws IOException {
        var mup = c.mup();
        GgufWriter w = new GgufWriter();
        String a = "falcon-h1.";
        w.putString("general.architecture", "falcon-h1").putString("general.name", name);
        w.putU32(a + "context_length", c.maxPositionEmbeddings()).putU32(a + "embedding_length", c.hiddenSize())
                .putU32(a + "feed_forward_length", c.intermediateSize()).putU32(a + "attention.head_count", c.numAttentionHeads())
                .putU32(a + "block_count", c.numLayers()).putU32(a + "ssm.conv_kernel", c.mambaDConv()).putU32(a + "ssm.inner_size", c.dSsm())
                .putU32(a + "ssm.state_size", c.mambaDState()).putU32(a + "ssm.time_step_rank", c.mambaHeads())
                .putU32(a + "ssm.group_count", c.mambaGroups()).putF32(a + "attention.layer_norm_rms_epsilon", c.rmsNormEps())
                .putU32(a + "vocab_size", c.vocabSize()).putU32(a + "attention.head_count_kv", c.numKeyValueHeads())
                .putU32(a + "attention.key_length", c.headDim()).putU32(a + "attention.value_length", c.headDim())
                .putF32(a + "rope.freq_base", c.ropeTheta()).putU32("general.quantization_version", 2);
        tokenizer.apply(w);
        List<Double> ssm = mup.ssm();
        int gn = c.mambaGroups() * c.mambaDState();
        int[] groupEnds = {c.dSsm(), 2 * c.dSsm(), 2 * c.dSsm() + gn, 2 * c.dSsm() + 2 * gn, c.inProjSize()};
        put(w, "token_embd.weight", scale(values.get("model.embed_tokens.weight", new long[] {c.vocabSize(), c.hiddenSize()}), mup.embedding()),
                new long[] {c.vocabSize(), c.hiddenSize()}, dtype);
        for (int i = 0; i < c.numLayers(); i++) {
            String p = "model.layers." + i + ".";
            String g = "blk." + i + ".";
            long q = (long) c.numAttentionHeads() * c.headDim();
            long kv = (long) c.numKeyValueHeads() * c.headDim();
            put(w, g + "attn_norm.weight", values.get(p + "input_layernorm.weight", new long[] {c.hiddenSize()}), new long[] {c.hiddenSize()}, DType.F32);
            put(w, g + "ffn_norm", values.get(p + "pre_ff_layernorm.weight", new long[] {c.hiddenSize()}), new long[] {c.hiddenSize()}, DType.F32);
            put(w, g + "attn_q.weight", scale(values.get(p + "self_attn.q_proj.weight", new long[] {q, c.hiddenSize()}), mup.attentionIn()),
                    new long[] {q, c.hiddenSize()}, dtype);
            put(w, g + "attn_k.weight", scale(values.get(p + "self_attn.k_proj.weight", new long[] {kv, c.hiddenSize()}), mup.attentionIn() * mup.key()),
                    new long[] {kv, c.hiddenSize()}, dtype);
            put(w, g + "attn_v.weight", scale(values.get(p + "self_attn.v_proj.weight", new long[] {kv, c.hiddenSize()}), mup.attentionIn()),
                    new long[] {kv, c.hiddenSize()}, dtype);
            put(w, g + "attn_output.weight", scale(values.get(p + "self_attn.o_proj.weight", new long[] {c.hiddenSize(), q}), mup.attentionOut()),
                    new long[] {c.hiddenSize(), q}, dtype);
            float[] in = values.get(p + "mamba.in_proj.weight", new long[] {c.inProjSize(), c.hiddenSize()});
            for (int r = 0, grp = 0; r < c.inProjSize(); r++) {
                while (r >= groupEnds[grp]) {
                    grp++;
                }
                double s = mup.ssmIn() * ssm.get(grp);
                for (int k = 0; k < c.hiddenSize(); k++) {
                    in[r * c.hiddenSize() + k] *= (float) s;
                }
            }
            put(w, g + "ssm_in.weight", in, new long[] {c.inProjSize(), c.hiddenSize()}, dtype);
            put(w, g + "ssm_conv1d.weight", values.get(p + "mamba.conv1d.weight", new long[] {c.convDim(), 1, c.mambaDConv()}),
                    new long[] {c.convDim(), c.mambaDConv()}, DType.F32);
            if (c.mambaConvBias()) {
                put(w, g + "ssm_conv1d.bias", values.get(p + "mamba.conv1d.bias", new long[] {c.convDim()}), new long[] {c.convDim()}, DType.F32);
            }
            put(w, g + "ssm_dt.bias", values.get(p + "mamba.dt_bias", new long[] {c.mambaHeads()}), new long[] {c.mambaHeads()}, DType.F32);
            float[] aLog = values.get(p + "mamba.A_log", new long[] {c.mambaHeads()});
            float[] aNeg = new float[aLog.length];
            for (int h = 0; h < aLog.length; h++) {
                aNeg[h] = (float) -Math.exp(aLog[h]);
            }
            put(w, g + "ssm_a", aNeg, new long[] {c.mambaHeads(), 1}, DType.F32);
            put(w, g + "ssm_d", values.get(p + "mamba.D", new long[] {c.mambaHeads()}), new long[] {c.mambaHeads(), 1}, DType.F32);
            if (c.mambaRmsNorm()) {
                put(w, g + "ssm_norm.weight", values.get(p + "mamba.norm.weight", new long[] {c.dSsm()}),
                        new long[] {c.mambaGroups(), c.dSsm() / c.mambaGroups()}, DType.F32);
            }
            put(w, g + "ssm_out.weight", scale(values.get(p + "mamba.out_proj.weight", new long[] {c.hiddenSize(), c.dSsm()}), mup.ssmOut()),
                    new long[] {c.hiddenSize(), c.dSsm()}, dtype);
            put(w, g + "ffn_gate.weight", scale(values.get(p + "feed_forward.gate_proj.weight", new long[] {c.intermediateSize(), c.hiddenSize()}),
                    mup.mlp().get(0)), new long[] {c.intermediateSize(), c.hiddenSize()}, dtype);
            put(w, g + "ffn_up.weight", values.get(p + "feed_forward.up_proj.weight", new long[] {c.intermediateSize(), c.hiddenSize()}),
                    new long[] {c.intermediateSize(), c.hiddenSize()}, dtype);
            put(w, g + "ffn_down.weight", scale(values.get(p + "feed_forward.down_proj.weight", new long[] {c.hiddenSize(), c.intermediateSize()}),
                    mup.mlp().get(1)), new long[] {c.hiddenSize(), c.intermediateSize()}, dtype);
        }
        put(w, "output_norm.weight", values.get("model.final_layernorm.weight", new long[] {c.hiddenSize()}), new long[] {c.hiddenSize()}, DType.F32);
        if (!c.tieWordEmbeddings()) {
            put(w, "output.weight", scale(values.get("lm_head.weight", new long[] {c.vocabSize(), c.hiddenSize()}), mup.lmHead()),
                    new long[] {c.vocabSize(), c.hiddenSize()}, dtype);
        }
        w.putU32("general.file_type", switch (dtype) {
            case F32 -> 0;
            case F16 -> 1;
            case Q8_0 -> 7;
            case BF16 -> 32;
            default -> throw new IllegalArgumentException("GGUF weights are F32, F16, BF16 or Q8_0, not " + dtype);
        });
        w.write(file);
    }

    private static float[] scale(float[] v, double s) {
        if (s != 1.0) {
            for (int i = 0; i < v.length; i++) {
                v[i] *= (float) s;
            }
        }
        return v;
    }

    /** Adds a tensor; a matrix whose rows do not split into Q8_0 blocks falls back to F16, as the converter does. */
    private static void put(GgufWriter w, String name, float[] v, long[] shape, DType dtype) {
        DType t = dtype;
        if (t == DType.Q8_0 && shape[shape.length - 1] % 32 != 0) {
            t = DType.F16;
        }
        w.tensor(name, encode(v, shape, t));
    }

    /** Pretty JSON for a config map. */
    public static String json(Map<String, Object> m) {
        return new GsonBuilder().setPrettyPrinting().disableHtmlEscaping().create().toJson(m);
    }
}
