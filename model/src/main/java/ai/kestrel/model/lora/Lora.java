package ai.kestrel.model.lora;

import ai.kestrel.engine.DType;
import ai.kestrel.engine.Scope;
import ai.kestrel.engine.Tensor;
import ai.kestrel.engine.io.AtomicFiles;
import ai.kestrel.engine.io.SafeTensors;
import ai.kestrel.engine.io.SafeTensorsWriter;
import ai.kestrel.engine.io.TensorFileException;
import ai.kestrel.engine.ops.Arith;
import ai.kestrel.engine.ops.Casts;
import ai.kestrel.engine.ops.Linalg;
import ai.kestrel.model.falconh1.FalconH1;
import ai.kestrel.model.falconh1.FalconH1Layer;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonNull;
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
import java.util.SplittableRandom;

/**
 * A LoRA adapter on a Falcon-H1 model: for each wrapped linear module, {@code A [r, in]} and {@code B [out, r]}
 * in float32, and {@code y = W x + scaling * B(A(x))}. Created as PEFT initialises it ({@code A} uniform in
 * {@code ±1/sqrt(in)}, i.e. Kaiming-uniform with {@code a = sqrt(5)}; {@code B} zero), or read from and
 * written to PEFT's adapter folder ({@code adapter_config.json}, {@code adapter_model.safetensors} with keys
 * {@code base_model.model.<module>.lora_A.weight}). Module paths are Hugging Face's:
 * {@code model.layers.{i}.self_attn.q_proj}, {@code ...mamba.in_proj}, {@code ...feed_forward.gate_proj}, ...
 *
 * <p>Dropout ({@code lora_dropout}) applies to the input of {@code A} while a training seed is set
 * ({@link #setTraining}), with a mask that depends only on that seed and the module, so recomputation under
 * activation checkpointing and resumed runs see the same masks.
 */
public final class Lora implements AutoCloseable {
    /** PEFT's file names. */
    public static final String CONFIG = "adapter_config.json";
    public static final String WEIGHTS = "adapter_model.safetensors";
    private static final String PREFIX = "base_model.model.";

    /** One wrapped module's factors. */
    public record Factors(Tensor a, Tensor b) {
    }


    private final LoraConfig config;
    private final Map<String, Factors> modules;
    private final Map<String, Integer> index = new java.util.HashMap<>();
    private final Scope scope;
    private volatile Long trainingSeed;

    private Lora(LoraConfig config, Map<String, Factors> modules, Scope scope) {
        this.config = config;
        this.modules = modules;
        this.scope = scope;
        for (String m : modules.keySet()) {
            index.put(m, index.size());
        }
    }

    /** Training mode with dropout masks drawn from {@code seed} (one seed per micro-batch), or {@code null} for inference. */
    public void setTraining(Long seed) {
        this.trainingSeed = seed;
    }

    public LoraConfig config() {
        return config;
    }

    /** A copy of this adapter with its factors in {@code dtype} (F32 or F64; F64 for gradient checks). */
    public Lora copyAs(DType dtype) {
        if (dtype != DType.F32 && dtype != DType.F64) {
            throw new IllegalArgumentException("LoRA factors are F32 or F64, not " + dtype);
        }
        Scope s = Scope.detached("lora");
        Map<String, Factors> m = new LinkedHashMap<>();
        try (var in = s.enter(); var ng = ai.kestrel.engine.Autograd.noGrad()) {
            for (var e : modules.entrySet()) {
                m.put(e.getKey(), new Factors(Casts.to(e.getValue().a(), dtype).requiresGrad(true),
                        Casts.to(e.getValue().b(), dtype).requiresGrad(true)));
            }
        }
        return new Lora(config, m, s);
    }

    /**
     * This adapter with its factors on {@code device} (new leaf tensors requiring gradients, in a scope the copy
     * owns), or this adapter when it is already there. Apply it to a model on the same device.
     */
    public Lora to(ai.kestrel.engine.Device device) {
        Factors any = modules.values().stream().findFirst().orElse(null);
        if (any == null || any.a().device() == device) {
            return this;
        }
        Scope s = Scope.detached("lora on " + device);
        Map<String, Factors> m = new LinkedHashMap<>();
        try (var in = s.enter(); var ng = ai.kestrel.engine.Autograd.noGrad()) {
            for (var e : modules.entrySet()) {
                m.put(e.getKey(), new Factors(e.getValue().a().to(device).requiresGrad(true), e.getValue().b().to(device).requiresGrad(true)));
            }
        }
        Lora out = new Lora(config, m, s);
        out.trainingSeed = trainingSeed;
        return out;
    }

    /** The wrapped modules (Hugging Face paths, in layer order) and their factors. */
    public Map<String, Factors> modules() {
        return java.util.Collections.unmodifiableMap(modules);
    }

    /** The trainable tensors under PEFT's key names. */
    public Map<String, Tensor> parameters() {
        Map<String, Tensor> p = new LinkedHashMap<>();
        for (var e : modules.entrySet()) {
            p.put(PREFIX + e.getKey() + ".lora_A.weight", e.getValue().a());
            p.put(PREFIX + e.getKey() + ".lora_B.weight", e.getValue().b());
        }
        return p;
    }

    /** {@code y + scaling * (x·Aᵀ)·Bᵀ} when {@code module} is wrapped, else {@code y}. */
    public Tensor apply(String module, Tensor x, Tensor y) {
        Factors f = modules.get(module);
        if (f == null) {
            return y;
        }
        // y + s·B(A x) as y + B(s·A x): the scaling on the (M, r) product, and B's product added as it is written
        // (the same values when s is a power of two, as alpha / r usually is; otherwise within float32 rounding)
        return Linalg.addLinear(y, scaledA(module, f, x), f.b());
    }

    /**
     * The wrapped linear {@code x·wᵀ + scaling * (x·Aᵀ)·Bᵀ} of {@code module} ({@code x·wᵀ} when it is not wrapped),
     * with {@code w}'s input rounded as {@code numerics} says: {@code apply(module, x, linear(x, w))} with the base and
     * B products computed as one ({@link Linalg#linearPair}), so the output is written once.
     */
    public Tensor linear(String module, Tensor x, Tensor w, ai.kestrel.engine.ops.Numerics numerics) {
        Factors f = modules.get(module);
        if (f == null) {
            return Linalg.linear(x, w, null, numerics);
        }
        return Linalg.linearPair(x, w, scaledA(module, f, x), f.b(), numerics);
    }

    /** {@code scaling * (dropout(x)·Aᵀ)}, the (M, r) input of B (dropout while a training seed is set). */
    private Tensor scaledA(String module, Factors f, Tensor x) {
        Tensor in = x;
        Long seed = trainingSeed;
        if (seed != null && config.dropout() > 0) {
            in = Arith.dropout(x, config.dropout(), new SplittableRandom(seed + 0x9E3779B97F4A7C15L * (index.get(module) + 1)).nextLong());
        }
        return Arith.scale(Linalg.linear(in, f.a(), null), config.scaling());
    }

    /** The module paths of {@code model} that {@code targets} select, with their weights. */
    private static Map<String, Tensor> targets(FalconH1 model, List<String> targets) {
        Map<String, Tensor> out = new LinkedHashMap<>();
        for (int i = 0; i < model.numLayers(); i++) {
            FalconH1Layer w = model.layer(i);
            for (String m : FalconH1Layer.LINEAR_MODULES) {
                if (targets.contains(m.substring(m.indexOf('.') + 1))) {
                    out.put("model.layers." + i + "." + m, w.matrix(m));
                }
            }
        }
        return out;
    }

    /** A new adapter on {@code model}, initialised as PEFT does, every number drawn from {@code seed}. */
    public static Lora create(FalconH1 model, LoraConfig config, long seed) {
        requireUnfolded(model);
        Scope scope = Scope.detached("lora");
        Map<String, Factors> modules = new LinkedHashMap<>();
        SplittableRandom rnd = new SplittableRandom(seed);
        try (var in = scope.enter()) {
            for (var e : targets(model, config.targets()).entrySet()) {
                int out = e.getValue().dim(0);
                int inF = e.getValue().dim(1);
                float[] a = new float[config.r() * inF];
                double bound = 1 / Math.sqrt(inF);
                for (int j = 0; j < a.length; j++) {
                    a[j] = (float) ((rnd.nextDouble() * 2 - 1) * bound);
                }
                modules.put(e.getKey(), new Factors(Tensor.of(a, config.r(), inF).requiresGrad(true),
                        Tensor.zeros(DType.F32, out, config.r()).requiresGrad(true)));
            }
        } catch (RuntimeException e) {
            scope.close();
            throw e;
        }
        return new Lora(config, modules, scope);
    }

    private Scope merged;
    private Map<String, Tensor> originals;

    /**
     * Folds the update into the weights: {@code W' = dequant(W) + scaling * B @ A} as float32 (for a 4-bit base
     * that is dequant(W4) plus the update, never the original 16-bit weights, which the 4-bit model no longer
     * has), installs the merged matrices in {@code model} and detaches the adapter from its forward pass.
     * {@link #unmerge} puts the original tensors back.
     */
    public void merge(FalconH1 model) {
        if (merged != null) {
            throw new IllegalStateException("the adapter is already merged");
        }
        requireUnfolded(model);
        Scope scope = Scope.detached("lora merge");
        Map<String, Tensor> orig = new LinkedHashMap<>();
        try (var in = scope.enter(); var ng = ai.kestrel.engine.Autograd.noGrad()) {
            for (var e : modules.entrySet()) {
                String path = e.getKey();
                int layer = layerOf(path);
                String module = moduleOf(path);
                Tensor w = model.layer(layer).matrix(module);
                Tensor dense = w.dtype() == DType.F32 ? w : Casts.to(w, DType.F32);
                // B @ A as linear(B, Aᵀ): x·wᵀ with x = B (out, r) and w = Aᵀ (in, r)
                Tensor delta = Linalg.linear(e.getValue().b(), transposed(e.getValue().a()), null);
                Tensor w2 = Arith.add(dense, Arith.scale(delta, config.scaling()));
                orig.put(path, w);
                model.setLayer(layer, model.layer(layer).with(module, w2));
            }
        } catch (RuntimeException e) {
            for (var o : orig.entrySet()) {
                restore(model, o.getKey(), o.getValue());
            }
            scope.close();
            throw e;
        }
        if (model.adapter() == this) {
            model.setAdapter(null);
        }
        merged = scope;
        originals = orig;
    }

    /** Undoes {@link #merge}: the original weight tensors return, the merged ones are freed, the adapter applies again. */
    public void unmerge(FalconH1 model) {
        if (merged == null) {
            throw new IllegalStateException("the adapter is not merged");
        }
        for (var o : originals.entrySet()) {
            restore(model, o.getKey(), o.getValue());
        }
        merged.close();
        merged = null;
        originals = null;
        model.setAdapter(this);
    }

    private static Tensor transposed(Tensor a) {
        int r = a.dim(0);
        int n = a.dim(1);
        float[] v = a.toFloatArray();
        float[] t = new float[v.length];
        for (int i = 0; i < r; i++) {
            for (int j = 0; j < n; j++) {
                t[j * r + i] = v[i * n + j];
            }
        }
        return Tensor.of(t, n, r);
    }

    private static void restore(FalconH1 model, String path, Tensor w) {
        int layer = layerOf(path);
        model.setLayer(layer, model.layer(layer).with(moduleOf(path), w));
    }

    private static final String LAYERS = "model.layers.";

    /** {@code i} of a module path {@code model.layers.{i}.{module}}. */
    private static int layerOf(String path) {
        return Integer.parseInt(path.substring(LAYERS.length(), path.indexOf('.', LAYERS.length())));
    }

    /** {@code module} of a module path {@code model.layers.{i}.{module}}. */
    private static String moduleOf(String path) {
        return path.substring(path.indexOf('.', LAYERS.length()) + 1);
    }

    private static void requireUnfolded(FalconH1 model) {
        if (model.folded()) {
            throw new IllegalArgumentException("LoRA adapters apply to Falcon-H1 models loaded from Hugging Face folders: in a GGUF file "
                    + "llama.cpp's converter folded the muP multipliers into the weights, and a PEFT adapter refers to the unfolded modules");
        }
    }

    /** Writes the adapter as PEFT does: {@code dir/adapter_config.json} and {@code dir/adapter_model.safetensors}, each atomically. */
    public void save(Path dir, String baseModel) throws IOException {
        Files.createDirectories(dir);
        try (Scope host = Scope.open()) {
            Map<String, Tensor> onHost = new LinkedHashMap<>();
            parameters().forEach((k, t) -> onHost.put(k, t.to(ai.kestrel.engine.Device.CPU)));
            SafeTensorsWriter.write(dir.resolve(WEIGHTS), onHost, Map.of("format", "pt"));
        }
        JsonObject c = new JsonObject();
        c.addProperty("peft_type", "LORA");
        c.addProperty("task_type", "CAUSAL_LM");
        c.addProperty("base_model_name_or_path", baseModel);
        c.add("revision", JsonNull.INSTANCE);
        c.addProperty("inference_mode", true);
        c.addProperty("r", config.r());
        c.addProperty("lora_alpha", config.alpha());
        c.addProperty("lora_dropout", config.dropout());
        JsonArray t = new JsonArray();
        config.targets().forEach(t::add);
        c.add("target_modules", t);
        c.add("exclude_modules", JsonNull.INSTANCE);
        c.addProperty("fan_in_fan_out", false);
        c.addProperty("bias", "none");
        c.addProperty("use_rslora", config.rslora());
        c.addProperty("use_dora", false);
        c.add("modules_to_save", JsonNull.INSTANCE);
        c.addProperty("init_lora_weights", true);
        c.add("layers_to_transform", JsonNull.INSTANCE);
        c.add("layers_pattern", JsonNull.INSTANCE);
        c.add("rank_pattern", new JsonObject());
        c.add("alpha_pattern", new JsonObject());
        byte[] json = new GsonBuilder().setPrettyPrinting().serializeNulls().create().toJson(c).getBytes(StandardCharsets.UTF_8);
        AtomicFiles.write(dir.resolve(CONFIG), ch -> AtomicFiles.writeFully(ch, ByteBuffer.wrap(json)));
    }

    /**
     * Reads a PEFT LoRA adapter folder for {@code model}. Refuses, naming the file and the field: a non-LoRA
     * {@code peft_type}, DoRA, biases, rank or alpha patterns, fan-in-fan-out, refused or unknown targets,
     * missing tensors and wrong shapes. Factors in BF16/F16 are read as float32.
     */
    public static Lora load(Path dir, FalconH1 model) throws IOException {
        requireUnfolded(model);
        Path cfgFile = dir.resolve(CONFIG);
        if (!Files.isRegularFile(cfgFile)) {
            throw new IOException(dir + ": no " + CONFIG + " (a PEFT adapter folder holds " + CONFIG + " and " + WEIGHTS + ")");
        }
        JsonObject c;
        try {
            c = JsonParser.parseString(Files.readString(cfgFile)).getAsJsonObject();
        } catch (RuntimeException e) {
            throw new IOException(cfgFile + ": not a JSON object (" + e.getMessage() + ")", e);
        }
        String type = string(c, "peft_type", cfgFile, "LORA");
        if (!type.equals("LORA")) {
            throw new IllegalArgumentException(cfgFile + ": peft_type '" + type + "' (Kestrel reads LORA adapters)");
        }
        if (bool(c, "use_dora", cfgFile)) {
            throw new IllegalArgumentException(cfgFile + ": use_dora is true; DoRA adapters are not supported");
        }
        if (bool(c, "fan_in_fan_out", cfgFile)) {
            throw new IllegalArgumentException(cfgFile + ": fan_in_fan_out is true; Falcon-H1's linear layers store (out, in)");
        }
        String bias = string(c, "bias", cfgFile, "none");
        if (!bias.equals("none")) {
            throw new IllegalArgumentException(cfgFile + ": bias '" + bias + "'; only 'none' is supported");
        }
        for (String p : List.of("rank_pattern", "alpha_pattern")) {
            if (c.has(p) && c.get(p).isJsonObject() && !c.getAsJsonObject(p).isEmpty()) {
                throw new IllegalArgumentException(cfgFile + ": " + p + " is not empty; per-module ranks are not supported");
            }
        }
        if (!c.has("r") || !c.get("r").isJsonPrimitive()) {
            throw new IllegalArgumentException(cfgFile + ": field 'r' is missing or not a number");
        }
        int r = c.get("r").getAsInt();
        double alpha = c.has("lora_alpha") ? c.get("lora_alpha").getAsDouble() : 8;
        double dropout = c.has("lora_dropout") ? c.get("lora_dropout").getAsDouble() : 0;
        boolean rslora = bool(c, "use_rslora", cfgFile);
        List<String> targets = new ArrayList<>();
        JsonElement tm = c.get("target_modules");
        if (tm == null || tm.isJsonNull()) {
            throw new IllegalArgumentException(cfgFile + ": target_modules is missing (PEFT has no default for falcon_h1)");
        }
        if (tm.isJsonArray()) {
            for (JsonElement e : tm.getAsJsonArray()) {
                targets.add(e.getAsString());
            }
        } else {
            // a regex over module paths: take the leaf names it selects
            java.util.regex.Pattern re = java.util.regex.Pattern.compile(tm.getAsString());
            for (String m : targets(model, LoraConfig.FALCON_H1_TARGETS).keySet()) {
                if (re.matcher(m).matches()) {
                    String leaf = m.substring(m.lastIndexOf('.') + 1);
                    if (!targets.contains(leaf)) {
                        targets.add(leaf);
                    }
                }
            }
        }
        LoraConfig config;
        try {
            config = new LoraConfig(r, alpha, dropout, targets, rslora);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(cfgFile + ": " + e.getMessage(), e);
        }
        Scope scope = Scope.detached("lora");
        try (Scope file = Scope.open(); var in = scope.enter()) {
            SafeTensors st = SafeTensors.open(dir.resolve(WEIGHTS), file);
            Map<String, Factors> modules = new LinkedHashMap<>();
            for (var e : targets(model, config.targets()).entrySet()) {
                String m = e.getKey();
                Tensor a = factor(st, m, "lora_A", new long[] {r, e.getValue().dim(1)});
                Tensor b = factor(st, m, "lora_B", new long[] {e.getValue().dim(0), r});
                modules.put(m, new Factors(a.requiresGrad(true), b.requiresGrad(true)));
            }
            return new Lora(config, modules, scope);
        } catch (IOException | RuntimeException e) {
            scope.close();
            throw e;
        }
    }

    /** A factor under PEFT's saved key (or the in-memory {@code .default.} form), copied into float32. */
    private static Tensor factor(SafeTensors st, String module, String which, long[] shape) throws TensorFileException {
        String key = PREFIX + module + "." + which + ".weight";
        if (!st.has(key)) {
            String alt = PREFIX + module + "." + which + ".default.weight";
            if (!st.has(alt)) {
                throw new TensorFileException(st.file(), "missing tensor '" + key + "'");
            }
            key = alt;
        }
        long[] got = st.shape(key);
        if (!java.util.Arrays.equals(got, shape)) {
            throw new TensorFileException(st.file(), "tensor '" + key + "' has shape " + java.util.Arrays.toString(got) + ", expected "
                    + java.util.Arrays.toString(shape));
        }
        Tensor t = st.tensor(key);
        if (!t.dtype().isFloating() || t.dtype() == DType.Q8_0 || t.dtype() == DType.NF4) {
            throw new TensorFileException(st.file(), "tensor '" + key + "' is " + t.dtype() + ", expected F32, BF16 or F16");
        }
        return t.dtype() == DType.F32 ? Tensor.of(t.toFloatArray(), shape) : Casts.to(t, DType.F32);
    }

    private static String string(JsonObject c, String key, Path file, String dflt) {
        JsonElement e = c.get(key);
        if (e == null || e.isJsonNull()) {
            return dflt;
        }
        if (!e.isJsonPrimitive() || !e.getAsJsonPrimitive().isString()) {
            throw new IllegalArgumentException(file + ": field '" + key + "' is not a string");
        }
        return e.getAsString();
    }

    private static boolean bool(JsonObject c, String key, Path file) {
        JsonElement e = c.get(key);
        if (e == null || e.isJsonNull()) {
            return false;
        }
        if (!e.isJsonPrimitive() || !e.getAsJsonPrimitive().isBoolean()) {
            throw new IllegalArgumentException(file + ": field '" + key + "' is not true or false");
        }
        return e.getAsBoolean();
    }

    @Override
    public void close() {
        if (merged != null) {
            merged.close();
        }
        scope.close();
    }
}
