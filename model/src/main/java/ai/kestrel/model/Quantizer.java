package ai.kestrel.model;

import ai.kestrel.engine.Autograd;
import ai.kestrel.engine.DType;
import ai.kestrel.engine.Scope;
import ai.kestrel.engine.Tensor;
import ai.kestrel.engine.io.AtomicFiles;
import ai.kestrel.engine.io.BnbNf4;
import ai.kestrel.engine.io.SafeTensorsFolder;
import ai.kestrel.engine.io.SafeTensorsWriter;
import ai.kestrel.engine.io.TensorSource;
import ai.kestrel.engine.ops.Casts;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Writes a 4-bit copy of a Falcon-H1 Hugging Face folder as transformers + bitsandbytes would save it after
 * {@code load_in_4bit} with NF4 and double quantization: the attention, Mamba {@code in_proj} and MLP matrices
 * become 4-bit state dicts ({@link BnbNf4}); {@code out_proj} (the fused Mamba scan reads it raw), the
 * embeddings, {@code lm_head}, norms and the conv stay as stored; config.json gains the
 * {@code quantization_config} with {@code llm_int8_skip_modules = ["out_proj", "lm_head"]}.
 */
public final class Quantizer {
    /** The matrices that are quantized (the QLoRA targets of Falcon-H1 minus nothing: out_proj is never one). */
    static final Pattern TARGETS = Pattern.compile(
            "model\\.layers\\.\\d+\\.(self_attn\\.[qkvo]_proj|mamba\\.in_proj|feed_forward\\.(gate|up|down)_proj)\\.weight");

    /** What was done: tensors quantized and kept, bytes before and after. */
    public record Summary(int quantized, int kept, long bytesBefore, long bytesAfter) {
    }

    private Quantizer() {
    }

    /** Quantizes the model folder {@code in} into the new folder {@code out} (created; must not hold files). */
    public static Summary quantize(Path in, Path out) throws IOException {
        Path cfgFile = in.resolve("config.json");
        if (!Files.isRegularFile(cfgFile)) {
            throw new IOException(in + ": no config.json (quantize takes a Hugging Face model folder)");
        }
        JsonObject cfg = JsonParser.parseString(Files.readString(cfgFile)).getAsJsonObject();
        String type = cfg.has("model_type") ? cfg.get("model_type").getAsString() : "";
        if (!type.equals("falcon_h1")) {
            throw new IllegalArgumentException(cfgFile + ": model_type '" + type + "': quantize handles falcon_h1 models");
        }
        if (cfg.has("quantization_config")) {
            throw new IllegalArgumentException(cfgFile + ": the model is already quantized");
        }
        if (Files.isDirectory(out)) {
            try (Stream<Path> s = Files.list(out)) {
                if (s.findAny().isPresent()) {
                    throw new IllegalArgumentException("--out: " + out + " is a folder that is not empty");
                }
            }
        }
        Files.createDirectories(out);
        int quantized = 0;
        int kept = 0;
        long before = 0;
        long after = 0;
        try (Scope scope = Scope.open(); var ng = Autograd.noGrad()) {
            TensorSource src = SafeTensorsFolder.open(in, scope);
            Map<String, Tensor> tensors = new LinkedHashMap<>();
            for (String name : src.names()) {
                Tensor t = src.tensor(name);
                before += t.segment().byteSize();
                if (TARGETS.matcher(name).matches() && t.rank() == 2 && t.dim(1) % 64 == 0) {
                    String prefix = name.substring(0, name.length() - "weight".length());
                    Tensor f32 = t.dtype() == DType.F32 ? t : Casts.to(t, DType.F32);
                    Map<String, Tensor> sd = BnbNf4.quantize(prefix, f32, torchName(t.dtype()));
                    for (Tensor q : sd.values()) {
                        after += q.segment().byteSize();
                    }
                    tensors.putAll(sd);
                    quantized++;
                } else {
                    tensors.put(name, t);
                    after += t.segment().byteSize();
                    kept++;
                }
            }
            SafeTensorsWriter.write(out.resolve(SafeTensorsFolder.SINGLE), tensors, Map.of("format", "pt"));
        }
        cfg.add("quantization_config", quantizationConfig());
        byte[] json = new GsonBuilder().setPrettyPrinting().create().toJson(cfg).getBytes(StandardCharsets.UTF_8);
        AtomicFiles.write(out.resolve("config.json"), ch -> AtomicFiles.writeFully(ch, ByteBuffer.wrap(json)));
        // tokenizer and the other small files come along unchanged
        List<Path> others = new ArrayList<>();
        try (Stream<Path> s = Files.list(in)) {
            s.filter(p -> Files.isRegularFile(p) && copied(p.getFileName().toString())).forEach(others::add);
        }
        for (Path p : others) {
            byte[] b = Files.readAllBytes(p);
            AtomicFiles.write(out.resolve(p.getFileName().toString()), ch -> AtomicFiles.writeFully(ch, ByteBuffer.wrap(b)));
        }
        return new Summary(quantized, kept, before, after);
    }

    /**
     * QLoRA's base in memory: every {@link ai.kestrel.model.falconh1.FalconH1Layer#LINEAR_MODULES} matrix of
     * {@code model} whose input width divides into blocks of 64 becomes NF4 (bitsandbytes' quantization, double
     * quantization included); {@code out_proj}, embeddings and {@code lm_head} stay. The new tensors live in the
     * returned scope, which the caller closes after the model. Matrices already NF4 are left as they are.
     */
    public static ai.kestrel.engine.Scope quantizeInMemory(ai.kestrel.model.falconh1.FalconH1 model) {
        ai.kestrel.engine.Scope scope = ai.kestrel.engine.Scope.detached("nf4 base");
        try (var in = scope.enter(); var ng = Autograd.noGrad()) {
            for (int i = 0; i < model.numLayers(); i++) {
                for (String m : ai.kestrel.model.falconh1.FalconH1Layer.LINEAR_MODULES) {
                    Tensor w = model.layer(i).matrix(m);
                    if (w.dtype() == DType.NF4 || w.dim(1) % 64 != 0) {
                        continue;
                    }
                    try (ai.kestrel.engine.Scope tmp = ai.kestrel.engine.Scope.open()) {
                        // the float32 copy is temporary; only the 4-bit matrix stays
                        Tensor f32 = w.dtype() == DType.F32 ? w : Casts.to(w, DType.F32);
                        model.setLayer(i, model.layer(i).with(m, Casts.to(f32, DType.NF4).copyTo(scope)));
                    }
                }
            }
        } catch (RuntimeException e) {
            scope.close();
            throw e;
        }
        // the float32 copies' blocks would stay cached, and training never asks for those sizes
        ai.kestrel.engine.Scope.releaseCached();
        return scope;
    }

    /** Files that come along: everything but weights (any format), the old index and config.json. */
    private static boolean copied(String name) {
        return !(name.endsWith(".safetensors") || name.endsWith(".gguf") || name.endsWith(".bin") || name.endsWith(".pt")
                || name.endsWith(".pth") || name.equals(SafeTensorsFolder.INDEX) || name.equals("config.json"));
    }

    /** transformers' {@code BitsAndBytesConfig} for NF4 with double quantization, as it serializes it. */
    static JsonObject quantizationConfig() {
        JsonObject q = new JsonObject();
        q.addProperty("_load_in_4bit", true);
        q.addProperty("_load_in_8bit", false);
        q.addProperty("bnb_4bit_compute_dtype", "bfloat16");
        q.addProperty("bnb_4bit_quant_storage", "uint8");
        q.addProperty("bnb_4bit_quant_type", "nf4");
        q.addProperty("bnb_4bit_use_double_quant", true);
        q.addProperty("llm_int8_enable_fp32_cpu_offload", false);
        q.addProperty("llm_int8_has_fp16_weight", false);
        JsonArray skip = new JsonArray();
        skip.add("out_proj");
        skip.add("lm_head");
        q.add("llm_int8_skip_modules", skip);
        q.addProperty("llm_int8_threshold", 6.0);
        q.addProperty("load_in_4bit", true);
        q.addProperty("load_in_8bit", false);
        q.addProperty("quant_method", "bitsandbytes");
        return q;
    }

    private static String torchName(DType t) {
        return switch (t) {
            case BF16 -> "bfloat16";
            case F16 -> "float16";
            case F32 -> "float32";
            default -> throw new IllegalArgumentException("cannot quantize a " + t + " weight");
        };
    }
}
