package ai.kestrel.engine.io;

import ai.kestrel.engine.DType;
import ai.kestrel.engine.Tensor;
import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Writes a safetensors file as the reference implementation reads it: a JSON header ({@code __metadata__}
 * first, then tensors by name, offsets tiling the data), padded with spaces to a multiple of 8 bytes, then the
 * tensor bytes in header order. Atomic (temporary file, then rename).
 */
public final class SafeTensorsWriter {
    private static final Gson GSON = new GsonBuilder().disableHtmlEscaping().create();

    private SafeTensorsWriter() {
    }

    static String name(DType t) {
        return switch (t) {
            case F32 -> "F32";
            case F64 -> "F64";
            case F16 -> "F16";
            case BF16 -> "BF16";
            case I8 -> "I8";
            case U8 -> "U8";
            case I32 -> "I32";
            case I64 -> "I64";
            case Q8_0 -> throw new IllegalArgumentException("safetensors has no Q8_0 dtype (GGUF does)");
            case NF4 -> throw new IllegalArgumentException("NF4 weights go to safetensors in bitsandbytes' layout (packed U8 codes plus quant-state tensors), not as one dtype");
        };
    }

    /** Writes {@code tensors} (any iteration order; stored sorted by name) and string {@code metadata}. */
    public static void write(Path file, Map<String, Tensor> tensors, Map<String, String> metadata) throws IOException {
        Map<String, Tensor> sorted = new TreeMap<>(tensors);
        Map<String, Object> header = new LinkedHashMap<>();
        if (metadata != null && !metadata.isEmpty()) {
            header.put("__metadata__", new LinkedHashMap<>(metadata));
        }
        long offset = 0;
        for (var kv : sorted.entrySet()) {
            Tensor t = kv.getValue();
            long bytes = t.segment().byteSize();
            Map<String, Object> e = new LinkedHashMap<>();
            e.put("dtype", name(t.dtype()));
            e.put("shape", t.shape());
            e.put("data_offsets", List.of(offset, offset + bytes));
            header.put(kv.getKey(), e);
            offset += bytes;
        }
        byte[] json = GSON.toJson(header).getBytes(StandardCharsets.UTF_8);
        int padded = (json.length + 7) / 8 * 8;
        ByteBuffer head = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
        head.putLong(padded).put(json);
        while (head.hasRemaining()) {
            head.put((byte) ' ');
        }
        head.flip();
        AtomicFiles.write(file, ch -> {
            AtomicFiles.writeFully(ch, head);
            for (Tensor t : sorted.values()) {
                AtomicFiles.writeFully(ch, t.segment().asByteBuffer());
            }
        });
    }
}
