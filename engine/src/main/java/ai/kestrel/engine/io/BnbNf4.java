package ai.kestrel.engine.io;

import ai.kestrel.engine.DType;
import ai.kestrel.engine.Tensor;
import ai.kestrel.kernels.Buf;
import ai.kestrel.kernels.quant.Nf4;
import ai.kestrel.kernels.quant.Weights;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A 4-bit weight in the state-dict layout bitsandbytes' {@code Linear4bit} saves and transformers loads
 * (shared/REFERENCE.md §1b): under a module prefix, {@code weight} (U8 [ceil(n/2), 1], packed codes),
 * {@code weight.absmax} (U8 with double quantization, else F32), {@code weight.quant_map} (F32 [16]),
 * {@code weight.nested_absmax} (F32), {@code weight.nested_quant_map} (F32 [256]) and
 * {@code weight.quant_state.bitsandbytes__nf4} (U8: the UTF-8 JSON of quant_type, blocksize, dtype, shape
 * and the nested fields).
 */
public final class BnbNf4 {
    /** The suffix of the tensor that marks a 4-bit weight. */
    public static final String STATE = "weight.quant_state.bitsandbytes__nf4";

    private BnbNf4() {
    }

    /** True when the module at {@code prefix} (e.g. {@code "model.layers.0.mamba.in_proj."}) holds a 4-bit weight. */
    public static boolean isQuantized(TensorSource src, String prefix) {
        return src.has(prefix + STATE);
    }

    /**
     * The state-dict tensors of {@code w} (F32, shape (N, K)) quantized as bitsandbytes does with double
     * quantization; {@code originalDtype} is what the JSON records ({@code "bfloat16"}, {@code "float32"}, ...).
     */
    public static Map<String, Tensor> quantize(String prefix, Tensor w, String originalDtype) {
        if (w.rank() != 2 || w.dtype() != DType.F32) {
            throw new IllegalArgumentException("NF4 quantizes an F32 (N, K) weight, got " + w.dtype() + " " + java.util.Arrays.toString(w.shape()));
        }
        Nf4.Quantized q = Nf4.quantize(w.toFloatArray());
        Map<String, Tensor> out = new LinkedHashMap<>();
        out.put(prefix + "weight", bytes(q.packed(), q.packed().length, 1));
        out.put(prefix + "weight.absmax", bytes(q.absmaxCodes(), q.absmaxCodes().length));
        out.put(prefix + "weight.quant_map", Tensor.of(Nf4.code(), 16));
        out.put(prefix + "weight.nested_absmax", Tensor.of(q.nestedAbsmax(), q.nestedAbsmax().length));
        out.put(prefix + "weight.nested_quant_map", Tensor.of(Nf4.dynamicMap(), 256));
        // the key order of bitsandbytes' QuantState.as_dict(packed=True)
        JsonObject js = new JsonObject();
        js.addProperty("quant_type", "nf4");
        js.addProperty("blocksize", Nf4.BLOCK);
        js.addProperty("dtype", originalDtype);
        JsonArray shape = new JsonArray();
        shape.add(w.dim(0));
        shape.add(w.dim(1));
        js.add("shape", shape);
        js.addProperty("nested_blocksize", Nf4.NESTED_BLOCK);
        js.addProperty("nested_dtype", "float32");
        js.addProperty("nested_offset", (double) q.offset());
        byte[] json = js.toString().getBytes(StandardCharsets.UTF_8);
        out.put(prefix + STATE, bytes(json, json.length));
        return out;
    }

    /**
     * The 4-bit weight at {@code prefix} as an NF4 tensor (N, K) in the kernels' layout, its scales
     * reconstructed with the maps the file carries. Errors name the source and the tensor.
     */
    public static Tensor read(TensorSource src, String prefix) throws TensorFileException {
        String stateName = prefix + STATE;
        JsonObject js;
        try {
            byte[] raw = u8(src, stateName);
            JsonElement e = JsonParser.parseString(new String(raw, StandardCharsets.UTF_8));
            js = e.getAsJsonObject();
        } catch (RuntimeException e) {
            throw fault(src, stateName + ": not a JSON object (" + e.getMessage() + ")");
        }
        String type = str(src, js, stateName, "quant_type");
        if (!type.equals("nf4")) {
            throw fault(src, stateName + ": quant_type '" + type + "' (Kestrel reads nf4)");
        }
        int blocksize = num(src, js, stateName, "blocksize").intValue();
        if (blocksize != Nf4.BLOCK) {
            throw fault(src, stateName + ": blocksize " + blocksize + " (Kestrel's NF4 kernels use 64, bitsandbytes' default)");
        }
        JsonArray shape = js.has("shape") && js.get("shape").isJsonArray() ? js.getAsJsonArray("shape") : null;
        if (shape == null || shape.size() != 2) {
            throw fault(src, stateName + ": 'shape' must be [out_features, in_features]");
        }
        long n = shape.get(0).getAsLong();
        long k = shape.get(1).getAsLong();
        if (n <= 0 || k <= 0 || k % Nf4.BLOCK != 0 || n * k > Integer.MAX_VALUE) {
            throw fault(src, stateName + ": shape [" + n + ", " + k + "] (in_features must be a positive multiple of 64)");
        }
        long count = n * k;
        byte[] packed = u8(src, prefix + "weight");
        if (packed.length != (count + 1) / 2) {
            throw fault(src, prefix + "weight: " + packed.length + " code bytes for shape [" + n + ", " + k + "], expected " + (count + 1) / 2);
        }
        float[] code = f32(src, prefix + "weight.quant_map");
        float[] ours = Nf4.code();
        if (code.length != 16) {
            throw fault(src, prefix + "weight.quant_map: " + code.length + " values, expected the 16 NF4 codes");
        }
        for (int i = 0; i < 16; i++) {
            if (Math.abs(code[i] - ours[i]) > 1e-6f) {
                throw fault(src, prefix + "weight.quant_map: value " + i + " is " + code[i] + ", NF4's is " + ours[i]);
            }
        }
        int blocks = Nf4.blocks(count);
        float[] absmax;
        String absName = prefix + "weight.absmax";
        if (src.has(prefix + "weight.nested_absmax")) {
            byte[] q = u8(src, absName);
            float[] nested = f32(src, prefix + "weight.nested_absmax");
            float[] map = f32(src, prefix + "weight.nested_quant_map");
            int nestedBlock = js.has("nested_blocksize") ? num(src, js, stateName, "nested_blocksize").intValue() : Nf4.NESTED_BLOCK;
            float offset = num(src, js, stateName, "nested_offset").floatValue();
            if (q.length != blocks || map.length != 256 || nestedBlock <= 0 || nested.length != (blocks + nestedBlock - 1) / nestedBlock) {
                throw fault(src, absName + ": " + q.length + " codes, " + nested.length + " nested scales and a map of " + map.length
                        + " for " + blocks + " blocks of 64 (nested blocks of " + nestedBlock + ")");
            }
            absmax = new float[blocks];
            for (int i = 0; i < blocks; i++) {
                absmax[i] = map[q[i] & 0xff] * nested[i / nestedBlock] + offset;
            }
        } else {
            absmax = f32(src, absName);
            if (absmax.length != blocks) {
                throw fault(src, absName + ": " + absmax.length + " scales for " + blocks + " blocks of 64");
            }
        }
        Tensor t = Tensor.empty(DType.NF4, n, k);
        try (Arena tmp = Arena.ofConfined()) {
            Weights w = Nf4.toWeights(tmp, packed, absmax, (int) n, (int) k);
            MemorySegment.copy(w.data(), 0, t.segment(), 0, w.data().byteSize());
        }
        return t;
    }

    private static TensorFileException fault(TensorSource src, String what) {
        return new TensorFileException(java.nio.file.Path.of(src.describe()), what);
    }

    private static byte[] u8(TensorSource src, String name) throws TensorFileException {
        if (!src.has(name)) {
            throw fault(src, "missing tensor '" + name + "'");
        }
        Tensor t = src.tensor(name);
        if (t.dtype() != DType.U8 && t.dtype() != DType.I8) {
            throw fault(src, "'" + name + "' is " + t.dtype() + ", expected U8");
        }
        return t.segment().toArray(ValueLayout.JAVA_BYTE);
    }

    private static float[] f32(TensorSource src, String name) throws TensorFileException {
        if (!src.has(name)) {
            throw fault(src, "missing tensor '" + name + "'");
        }
        Tensor t = src.tensor(name);
        if (t.dtype() != DType.F32) {
            throw fault(src, "'" + name + "' is " + t.dtype() + ", expected F32");
        }
        float[] out = new float[Math.toIntExact(t.numel())];
        MemorySegment.copy(t.segment(), Buf.F32, 0, out, 0, out.length);
        return out;
    }

    private static String str(TensorSource src, JsonObject js, String where, String key) throws TensorFileException {
        JsonElement e = js.get(key);
        if (e == null || !e.isJsonPrimitive() || !e.getAsJsonPrimitive().isString()) {
            throw fault(src, where + ": field '" + key + "' missing or not a string");
        }
        return e.getAsString();
    }

    private static Number num(TensorSource src, JsonObject js, String where, String key) throws TensorFileException {
        JsonElement e = js.get(key);
        if (e == null || !e.isJsonPrimitive() || !e.getAsJsonPrimitive().isNumber()) {
            throw fault(src, where + ": field '" + key + "' missing or not a number");
        }
        return e.getAsNumber();
    }

    private static Tensor bytes(byte[] b, long... shape) {
        Tensor t = Tensor.empty(DType.U8, shape);
        MemorySegment.copy(b, 0, t.segment(), ValueLayout.JAVA_BYTE, 0, b.length);
        return t;
    }
}
