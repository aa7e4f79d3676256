package ai.kestrel.engine.io;

import ai.kestrel.engine.Scope;
import ai.kestrel.engine.Tensor;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * The weights of a Hugging Face model folder: {@code model.safetensors}, or the shards listed by
 * {@code model.safetensors.index.json} ({@code weight_map}: tensor name -> shard file; other keys such as
 * {@code metadata.total_size} are tolerated and not validated, since writers disagree on it).
 */
public final class SafeTensorsFolder implements TensorSource {
    public static final String SINGLE = "model.safetensors";
    public static final String INDEX = "model.safetensors.index.json";

    private final Path dir;
    private final Map<String, SafeTensors> byTensor;

    private SafeTensorsFolder(Path dir, Map<String, SafeTensors> byTensor) {
        this.dir = dir;
        this.byTensor = byTensor;
    }

    /** Opens and validates every shard of the folder; mappings live as long as {@code scope}. */
    public static SafeTensorsFolder open(Path dir, Scope scope) throws IOException {
        Path index = dir.resolve(INDEX);
        Map<String, SafeTensors> byTensor = new TreeMap<>();
        if (Files.isRegularFile(index)) {
            JsonObject weightMap = weightMap(index);
            Map<String, SafeTensors> shards = new LinkedHashMap<>();
            for (var kv : weightMap.entrySet()) {
                JsonElement v = kv.getValue();
                if (!(v.isJsonPrimitive() && v.getAsJsonPrimitive().isString())) {
                    throw new TensorFileException(index, "weight_map entry '" + kv.getKey() + "' is not a file name");
                }
                String shardName = v.getAsString();
                Path shard = dir.resolve(shardName).normalize();
                if (!shard.getParent().equals(dir.normalize()) || !Files.isRegularFile(shard)) {
                    throw new TensorFileException(index, "weight_map names shard '" + shardName + "', which is not a file in " + dir);
                }
                SafeTensors st = shards.get(shardName);
                if (st == null) {
                    st = SafeTensors.open(shard, scope);
                    shards.put(shardName, st);
                }
                if (!st.has(kv.getKey())) {
                    throw new TensorFileException(shard, "the index places tensor '" + kv.getKey() + "' here, but the shard has no such tensor");
                }
            }
            for (SafeTensors st : shards.values()) {
                for (String name : st.names()) {
                    SafeTensors prev = byTensor.put(name, st);
                    if (prev != null && prev != st) {
                        throw new TensorFileException(st.file(), "tensor '" + name + "' is also in " + prev.file().getFileName());
                    }
                }
            }
        } else if (Files.isRegularFile(dir.resolve(SINGLE))) {
            SafeTensors st = SafeTensors.open(dir.resolve(SINGLE), scope);
            for (String name : st.names()) {
                byTensor.put(name, st);
            }
        } else {
            throw new TensorFileException(dir, "neither " + SINGLE + " nor " + INDEX + " is in this folder");
        }
        return new SafeTensorsFolder(dir, Collections.unmodifiableMap(byTensor));
    }

    private static JsonObject weightMap(Path index) throws IOException {
        JsonElement root;
        try {
            root = JsonParser.parseString(Files.readString(index, StandardCharsets.UTF_8));
        } catch (RuntimeException e) {
            throw new TensorFileException(index, "not valid JSON (" + e.getMessage() + ")");
        }
        if (!root.isJsonObject() || !root.getAsJsonObject().has("weight_map") || !root.getAsJsonObject().get("weight_map").isJsonObject()) {
            throw new TensorFileException(index, "expected an object with a weight_map object");
        }
        return root.getAsJsonObject().getAsJsonObject("weight_map");
    }

    private SafeTensors require(String name) {
        SafeTensors st = byTensor.get(name);
        if (st == null) {
            throw new IllegalArgumentException(dir.getFileName() + ": no tensor '" + name + "'");
        }
        return st;
    }

    @Override
    public Set<String> names() {
        return byTensor.keySet();
    }

    @Override
    public boolean has(String name) {
        return byTensor.containsKey(name);
    }

    @Override
    public long[] shape(String name) {
        return require(name).shape(name);
    }

    @Override
    public String storedType(String name) {
        return require(name).storedType(name);
    }

    @Override
    public Tensor tensor(String name) throws TensorFileException {
        return require(name).tensor(name);
    }

    @Override
    public String describe() {
        return dir.toString();
    }
}
