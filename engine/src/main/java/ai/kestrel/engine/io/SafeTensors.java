package ai.kestrel.engine.io;

import ai.kestrel.engine.DType;
import ai.kestrel.engine.Scope;
import ai.kestrel.engine.Tensor;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import com.google.gson.JsonPrimitive;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * A safetensors file, memory-mapped: {@code u64 N}, N bytes of UTF-8 JSON (name -> {dtype, shape,
 * data_offsets}, and an optional {@code __metadata__} of strings), then the tensor bytes. Validated as the
 * reference implementation does: known dtypes, sizes that match shapes, offsets that tile the data buffer
 * exactly (no gaps, no overlaps, nothing past the end).
 */
public final class SafeTensors implements TensorSource {
    /** The reference implementation's limit on the JSON header. */
    static final long MAX_HEADER = 100_000_000L;

    /** Bytes per element of every dtype the format defines (Kestrel loads a subset, see {@link #tensor}). */
    static final Map<String, Integer> DTYPE_BYTES = Map.ofEntries(
            Map.entry("F64", 8), Map.entry("F32", 4), Map.entry("F16", 2), Map.entry("BF16", 2),
            Map.entry("I64", 8), Map.entry("I32", 4), Map.entry("I16", 2), Map.entry("I8", 1),
            Map.entry("U64", 8), Map.entry("U32", 4), Map.entry("U16", 2), Map.entry("U8", 1),
            Map.entry("BOOL", 1), Map.entry("F8_E4M3", 1), Map.entry("F8_E5M2", 1));

    /** One tensor's header entry; {@code start, end} are absolute file offsets. */
    public record Entry(String name, String dtype, long[] shape, long start, long end) {
    }

    private final Path file;
    private final MemorySegment data;
    private final Map<String, Entry> entries;
    private final Map<String, String> metadata;

    private SafeTensors(Path file, MemorySegment data, Map<String, Entry> entries, Map<String, String> metadata) {
        this.file = file;
        this.data = data;
        this.entries = entries;
        this.metadata = metadata;
    }

    /** Maps and validates {@code file}; the mapping lives as long as {@code scope}. */
    public static SafeTensors open(Path file, Scope scope) throws IOException {
        return parse(file, Mapping.map(file, scope));
    }

    /** Validates an already mapped (or, in tests, in-memory) file image. */
    static SafeTensors parse(Path file, MemorySegment seg) throws TensorFileException {
        Cursor c = new Cursor(file, seg, 0);
        long n = c.i64("header length");
        if (n < 2 || n > MAX_HEADER) {
            throw c.fail("header length " + Long.toUnsignedString(n) + " is not a plausible JSON header (2 to " + MAX_HEADER + " bytes)");
        }
        String text = c.utf8(n, "JSON header");
        long dataStart = 8 + n;
        JsonObject root;
        try {
            JsonElement el = JsonParser.parseString(text);
            if (!el.isJsonObject()) {
                throw c.fail("the header is not a JSON object");
            }
            root = el.getAsJsonObject();
        } catch (TensorFileException e) {
            throw e;
        } catch (RuntimeException e) {
            throw c.fail("the header is not valid JSON (" + oneLine(e) + ")");
        }
        Map<String, String> meta = new LinkedHashMap<>();
        List<Entry> list = new ArrayList<>();
        for (var kv : root.entrySet()) {
            String name = kv.getKey();
            if (name.equals("__metadata__")) {
                meta = metadata(c, kv.getValue());
                continue;
            }
            list.add(entry(c, name, kv.getValue(), dataStart));
        }
        // offsets must tile the data buffer: sorted by start, each begins where the previous ended
        list.sort(Comparator.comparingLong(Entry::start).thenComparingLong(Entry::end));
        long at = dataStart;
        for (Entry e : list) {
            if (e.start() != at) {
                throw c.fail("tensor '" + e.name() + "' data starts at " + (e.start() - dataStart) + ", expected " + (at - dataStart)
                        + " (offsets overlap or leave a gap)");
            }
            at = e.end();
        }
        if (at != seg.byteSize()) {
            throw c.fail("tensor data ends at byte " + at + " but the file has " + seg.byteSize() + " bytes");
        }
        Map<String, Entry> byName = new TreeMap<>();
        for (Entry e : list) {
            byName.put(e.name(), e);
        }
        return new SafeTensors(file, seg, Collections.unmodifiableMap(byName), Collections.unmodifiableMap(meta));
    }

    private static String oneLine(Throwable e) {
        String m = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
        m = m.replace('\n', ' ');
        return m.length() > 160 ? m.substring(0, 160) + "..." : m;
    }

    private static Map<String, String> metadata(Cursor c, JsonElement v) throws TensorFileException {
        if (!v.isJsonObject()) {
            throw c.fail("__metadata__ must be an object of strings");
        }
        Map<String, String> m = new LinkedHashMap<>();
        for (var kv : v.getAsJsonObject().entrySet()) {
            JsonElement e = kv.getValue();
            if (!(e.isJsonPrimitive() && e.getAsJsonPrimitive().isString())) {
                throw c.fail("__metadata__ value '" + kv.getKey() + "' is not a string");
            }
            m.put(kv.getKey(), e.getAsString());
        }
        return m;
    }

    private static long nonNegativeInteger(Cursor c, JsonElement e, String what) throws TensorFileException {
        if (!(e.isJsonPrimitive() && ((JsonPrimitive) e).isNumber())) {
            throw c.fail(what + " is not a number");
        }
        java.math.BigDecimal d;
        try {
            d = e.getAsBigDecimal();
        } catch (NumberFormatException ex) {
            throw c.fail(what + " is not a number");
        }
        if (d.signum() < 0 || d.scale() > 0 && d.stripTrailingZeros().scale() > 0 || d.compareTo(java.math.BigDecimal.valueOf(Long.MAX_VALUE)) > 0) {
            throw c.fail(what + " is " + e + ", not a non-negative integer");
        }
        return d.longValueExact();
    }

    private static Entry entry(Cursor c, String name, JsonElement v, long dataStart) throws TensorFileException {
        String where = "tensor '" + name + "'";
        if (!v.isJsonObject()) {
            throw c.fail(where + ": entry is not an object");
        }
        JsonObject o = v.getAsJsonObject();
        JsonElement dt = o.get("dtype");
        if (dt == null || !(dt.isJsonPrimitive() && dt.getAsJsonPrimitive().isString())) {
            throw c.fail(where + ": missing or non-string dtype");
        }
        String dtype = dt.getAsString();
        Integer size = DTYPE_BYTES.get(dtype);
        if (size == null) {
            throw c.fail(where + ": unknown dtype '" + dtype + "'");
        }
        JsonElement sh = o.get("shape");
        if (sh == null || !sh.isJsonArray()) {
            throw c.fail(where + ": missing shape");
        }
        JsonArray sa = sh.getAsJsonArray();
        if (sa.size() > 16) {
            throw c.fail(where + ": shape has " + sa.size() + " dimensions");
        }
        long[] shape = new long[sa.size()];
        long numel = 1;
        for (int i = 0; i < shape.length; i++) {
            shape[i] = nonNegativeInteger(c, sa.get(i), where + " shape[" + i + "]");
            try {
                numel = Math.multiplyExact(numel, shape[i]);
            } catch (ArithmeticException e) {
                throw c.fail(where + ": shape " + Arrays.toString(shape) + " overflows");
            }
        }
        JsonElement off = o.get("data_offsets");
        if (off == null || !off.isJsonArray() || off.getAsJsonArray().size() != 2) {
            throw c.fail(where + ": data_offsets must be [start, end]");
        }
        long start = nonNegativeInteger(c, off.getAsJsonArray().get(0), where + " data start");
        long end = nonNegativeInteger(c, off.getAsJsonArray().get(1), where + " data end");
        long bytes;
        try {
            bytes = Math.multiplyExact(numel, size.longValue());
        } catch (ArithmeticException e) {
            throw c.fail(where + ": byte size overflows");
        }
        if (end < start || end - start != bytes) {
            throw c.fail(where + ": data_offsets [" + start + ", " + end + ") hold " + (end - start) + " bytes, "
                    + dtype + " " + Arrays.toString(shape) + " needs " + bytes);
        }
        long fileSize = c.seg.byteSize();
        if (end > fileSize - dataStart) {
            throw c.fail(where + ": data [" + start + ", " + end + ") lies outside the file (data section is " + (fileSize - dataStart) + " bytes)");
        }
        return new Entry(name, dtype, shape, dataStart + start, dataStart + end);
    }

    public Path file() {
        return file;
    }

    /** The {@code __metadata__} strings. */
    public Map<String, String> metadata() {
        return metadata;
    }

    /** The header entry of {@code name}, or {@code null}. */
    public Entry entry(String name) {
        return entries.get(name);
    }

    @Override
    public Set<String> names() {
        return entries.keySet();
    }

    @Override
    public boolean has(String name) {
        return entries.containsKey(name);
    }

    private Entry require(String name) {
        Entry e = entries.get(name);
        if (e == null) {
            throw new IllegalArgumentException(file.getFileName() + ": no tensor '" + name + "'");
        }
        return e;
    }

    @Override
    public long[] shape(String name) {
        return require(name).shape().clone();
    }

    @Override
    public String storedType(String name) {
        return require(name).dtype();
    }

    /** The Kestrel dtype of a safetensors dtype name, or {@code null} when Kestrel does not load it. */
    static DType dtype(String name) {
        return switch (name) {
            case "F32" -> DType.F32;
            case "F64" -> DType.F64;
            case "F16" -> DType.F16;
            case "BF16" -> DType.BF16;
            case "I8" -> DType.I8;
            case "U8", "BOOL" -> DType.U8;
            case "I32" -> DType.I32;
            case "I64" -> DType.I64;
            default -> null;
        };
    }

    @Override
    public Tensor tensor(String name) throws TensorFileException {
        Entry e = require(name);
        DType t = dtype(e.dtype());
        if (t == null) {
            throw new TensorFileException(file, "tensor '" + name + "' is " + e.dtype() + ", which Kestrel does not load");
        }
        return Tensor.wrap(data.asSlice(e.start(), e.end() - e.start()), t, e.shape());
    }

    @Override
    public String describe() {
        return file.toString();
    }
}
