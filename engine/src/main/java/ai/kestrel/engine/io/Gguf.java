package ai.kestrel.engine.io;

import ai.kestrel.engine.Scope;
import ai.kestrel.engine.Tensor;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A GGUF file (versions 2 and 3), memory-mapped: magic {@code GGUF}, version, tensor and key-value counts,
 * the key-values, the tensor infos, padding to {@code general.alignment} (default 32), then the tensor data.
 *
 * <p>Metadata values become Java objects: every integer type a {@link Long} (a u64 above
 * {@code Long.MAX_VALUE} is rejected), f32/f64 a {@link Double}, bool a {@link Boolean}, string a
 * {@link String} (strict UTF-8), array an unmodifiable {@link List} of those (nested for nested arrays).
 * {@link #valueType} keeps each key's GGUF type so a file can be written back as it was.
 *
 * <p>Shapes are row-major (GGUF lists dims fastest-first; they are reversed here), so a PyTorch
 * {@code [out, in]} weight stored as GGUF {@code {in, out}} comes back as {@code [out, in]}.
 */
public final class Gguf implements TensorSource {
    static final int MAGIC = 0x46554747; // "GGUF" little-endian
    static final int MAX_DIMS = 4;
    static final int MAX_NAME = 64;
    static final int MAX_NESTING = 8;
    /** Longest string value accepted (chat templates and vocabularies' strings are far shorter). */
    static final int MAX_STRING = 1 << 24;
    public static final int DEFAULT_ALIGNMENT = 32;

    /** GGUF metadata value types. */
    public enum ValueType {
        U8(0, 1), I8(1, 1), U16(2, 2), I16(3, 2), U32(4, 4), I32(5, 4), F32(6, 4), BOOL(7, 1), STRING(8, 8),
        ARRAY(9, 12), U64(10, 8), I64(11, 8), F64(12, 8);

        public final int id;
        /** The fewest bytes a value of this type takes (to bound counts by what the file holds). */
        final int minBytes;

        ValueType(int id, int minBytes) {
            this.id = id;
            this.minBytes = minBytes;
        }

        static ValueType of(int id) {
            for (ValueType t : values()) {
                if (t.id == id) {
                    return t;
                }
            }
            return null;
        }
    }

    /** One tensor: row-major shape, ggml type, absolute start offset and byte size in the file. */
    public record Info(String name, long[] shape, GgmlType type, long start, long bytes) {
    }

    private final Path file;
    private final MemorySegment seg;
    private final int version;
    private final Map<String, Object> metadata;
    private final Map<String, ValueType> valueTypes;
    private final Map<String, ValueType> arrayTypes;
    private final Map<String, Info> tensors;
    private final int alignment;

    private Gguf(Path file, MemorySegment seg, int version, Map<String, Object> metadata, Map<String, ValueType> valueTypes,
                 Map<String, ValueType> arrayTypes, Map<String, Info> tensors, int alignment) {
        this.file = file;
        this.seg = seg;
        this.version = version;
        this.metadata = metadata;
        this.valueTypes = valueTypes;
        this.arrayTypes = arrayTypes;
        this.tensors = tensors;
        this.alignment = alignment;
    }

    /** Maps and validates {@code file}; the mapping lives as long as {@code scope}. */
    public static Gguf open(Path file, Scope scope) throws IOException {
        return parse(file, Mapping.map(file, scope));
    }

    /** Validates an already mapped (or, in tests, in-memory) file image. */
    static Gguf parse(Path file, MemorySegment seg) throws TensorFileException {
        Cursor c = new Cursor(file, seg, 0);
        int magic = c.i32("magic");
        if (magic != MAGIC) {
            throw c.fail("not a GGUF file (bad magic 0x" + Integer.toHexString(magic) + ")");
        }
        int version = c.i32("version");
        if (version != 2 && version != 3) {
            throw c.fail("GGUF version " + Integer.toUnsignedString(version) + " is not supported (2 and 3 are)");
        }
        long nTensors = c.i64("tensor count");
        long nKv = c.i64("metadata count");
        // every key-value takes at least 8 + 4 + 1 bytes, every tensor info at least 8 + 4 + 8 + 4 + 8
        if (nKv < 0 || nKv > c.remaining() / 13) {
            throw c.fail("metadata count " + Long.toUnsignedString(nKv) + " cannot fit in the file");
        }
        if (nTensors < 0 || nTensors > c.remaining() / 32) {
            throw c.fail("tensor count " + Long.toUnsignedString(nTensors) + " cannot fit in the file");
        }
        Map<String, Object> meta = new LinkedHashMap<>();
        Map<String, ValueType> types = new LinkedHashMap<>();
        Map<String, ValueType> arrayTypes = new LinkedHashMap<>();
        for (long i = 0; i < nKv; i++) {
            String key = string(c, "metadata key " + i);
            int tid = c.i32("type of '" + key + "'");
            ValueType vt = ValueType.of(tid);
            if (vt == null) {
                throw c.fail("metadata '" + key + "' has unknown value type " + tid);
            }
            if (meta.containsKey(key)) {
                throw c.fail("metadata key '" + key + "' appears twice");
            }
            if (vt == ValueType.ARRAY) {
                long at = c.pos;
                int et = c.i32("element type of '" + key + "'");
                c.pos = at;
                ValueType evt = ValueType.of(et);
                if (evt != null) {
                    arrayTypes.put(key, evt);
                }
            }
            meta.put(key, value(c, vt, key, 0));
            types.put(key, vt);
        }
        int alignment = DEFAULT_ALIGNMENT;
        if (meta.containsKey("general.alignment")) {
            Object a = meta.get("general.alignment");
            if (!(a instanceof Long l) || l <= 0 || l % 8 != 0 || l > (1 << 20) || Long.bitCount(l) != 1) {
                throw c.fail("general.alignment " + a + " is not a power of two multiple of 8");
            }
            alignment = (int) (long) (Long) a;
        }
        List<Info> infos = new ArrayList<>();
        Map<String, Info> byName = new LinkedHashMap<>();
        for (int i = 0; i < nTensors; i++) {
            String name = string(c, "tensor name " + i);
            if (name.getBytes(java.nio.charset.StandardCharsets.UTF_8).length > MAX_NAME) {
                throw c.fail("tensor name '" + name.substring(0, Math.min(40, name.length())) + "...' is longer than " + MAX_NAME + " bytes");
            }
            int nd = c.i32("dimension count of '" + name + "'");
            if (nd < 1 || nd > MAX_DIMS) {
                throw c.fail("tensor '" + name + "' has " + Integer.toUnsignedString(nd) + " dimensions (1 to " + MAX_DIMS + " allowed)");
            }
            long[] dims = new long[nd];
            long numel = 1;
            for (int d = 0; d < nd; d++) {
                dims[d] = c.i64("dimension " + d + " of '" + name + "'");
                if (dims[d] <= 0) {
                    throw c.fail("tensor '" + name + "' dimension " + d + " is " + Long.toUnsignedString(dims[d]));
                }
                try {
                    numel = Math.multiplyExact(numel, dims[d]);
                } catch (ArithmeticException e) {
                    throw c.fail("tensor '" + name + "' size overflows");
                }
            }
            int tid = c.i32("type of '" + name + "'");
            GgmlType type = GgmlType.of(tid);
            if (type == null) {
                throw c.fail("tensor '" + name + "' has unknown ggml type " + Integer.toUnsignedString(tid));
            }
            if (dims[0] % type.blockSize != 0) {
                throw c.fail("tensor '" + name + "': row length " + dims[0] + " is not a multiple of " + type + "'s block of " + type.blockSize);
            }
            long offset = c.i64("data offset of '" + name + "'");
            if (offset < 0 || offset % alignment != 0) {
                throw c.fail("tensor '" + name + "' data offset " + Long.toUnsignedString(offset) + " is not a multiple of the alignment " + alignment);
            }
            long bytes;
            try {
                bytes = Math.multiplyExact(numel / type.blockSize, (long) type.blockBytes);
            } catch (ArithmeticException e) {
                throw c.fail("tensor '" + name + "' byte size overflows");
            }
            long[] shape = new long[nd];
            for (int d = 0; d < nd; d++) {
                shape[d] = dims[nd - 1 - d];
            }
            if (byName.containsKey(name)) {
                throw c.fail("tensor '" + name + "' appears twice");
            }
            Info info = new Info(name, shape, type, offset, bytes);
            infos.add(info);
            byName.put(name, info);
        }
        long dataStart = (c.pos + alignment - 1) / alignment * alignment;
        long dataBytes = seg.byteSize() - dataStart;
        Map<String, Info> placed = new LinkedHashMap<>();
        for (Info in : infos) {
            if (in.start() > dataBytes || in.bytes() > dataBytes - in.start()) {
                throw c.fail("tensor '" + in.name() + "' data [" + in.start() + ", " + (in.start() + in.bytes())
                        + ") lies outside the data section (" + Math.max(0, dataBytes) + " bytes)");
            }
            placed.put(in.name(), new Info(in.name(), in.shape(), in.type(), dataStart + in.start(), in.bytes()));
        }
        List<Info> sorted = new ArrayList<>(placed.values());
        sorted.sort(Comparator.comparingLong(Info::start));
        for (int i = 1; i < sorted.size(); i++) {
            Info a = sorted.get(i - 1);
            Info b = sorted.get(i);
            if (a.start() + a.bytes() > b.start()) {
                throw c.fail("tensors '" + a.name() + "' and '" + b.name() + "' overlap");
            }
        }
        return new Gguf(file, seg, version, Collections.unmodifiableMap(meta), Collections.unmodifiableMap(types),
                Collections.unmodifiableMap(arrayTypes), Collections.unmodifiableMap(placed), alignment);
    }

    private static String string(Cursor c, String what) throws TensorFileException {
        long n = c.i64("length of " + what);
        if (n < 0 || n > c.remaining()) {
            throw c.fail(what + ": length " + Long.toUnsignedString(n) + " runs past the end of the file");
        }
        if (n > MAX_STRING) {
            throw c.fail(what + ": a string of " + n + " bytes is beyond the " + MAX_STRING + "-byte limit");
        }
        return c.utf8(n, what);
    }

    private static Object value(Cursor c, ValueType t, String key, int depth) throws TensorFileException {
        String what = "value of '" + key + "'";
        return switch (t) {
            case U8 -> (long) c.u8(what);
            case I8 -> (long) (byte) c.u8(what);
            case U16 -> (long) (c.i16(what) & 0xffff);
            case I16 -> (long) c.i16(what);
            case U32 -> c.i32(what) & 0xffffffffL;
            case I32 -> (long) c.i32(what);
            case U64 -> {
                long v = c.i64(what);
                if (v < 0) {
                    throw c.fail(what + " " + Long.toUnsignedString(v) + " is beyond what Kestrel reads (2^63 - 1)");
                }
                yield v;
            }
            case I64 -> c.i64(what);
            case F32 -> (double) c.f32(what);
            case F64 -> c.f64(what);
            case BOOL -> {
                int b = c.u8(what);
                if (b > 1) {
                    throw c.fail(what + " is a bool of value " + b);
                }
                yield b == 1;
            }
            case STRING -> string(c, what);
            case ARRAY -> {
                if (depth >= MAX_NESTING) {
                    throw c.fail(what + " nests arrays more than " + MAX_NESTING + " deep");
                }
                int et = c.i32("element type of " + what);
                ValueType e = ValueType.of(et);
                if (e == null) {
                    throw c.fail(what + " is an array of unknown type " + et);
                }
                long n = c.i64("length of " + what);
                if (n < 0 || n > c.remaining() / e.minBytes) {
                    throw c.fail(what + ": array of " + Long.toUnsignedString(n) + " " + e + " cannot fit in the file");
                }
                List<Object> list = new ArrayList<>((int) Math.min(n, 1 << 16));
                for (long i = 0; i < n; i++) {
                    list.add(value(c, e, key, depth + 1));
                }
                yield Collections.unmodifiableList(list);
            }
        };
    }

    public Path file() {
        return file;
    }

    public int version() {
        return version;
    }

    public int alignment() {
        return alignment;
    }

    /** All metadata, in file order. */
    public Map<String, Object> metadata() {
        return metadata;
    }

    /** The GGUF type of metadata {@code key}, or {@code null}. */
    public ValueType valueType(String key) {
        return valueTypes.get(key);
    }

    /** The element type of array metadata {@code key}, or {@code null}. */
    public ValueType arrayType(String key) {
        return arrayTypes.get(key);
    }

    /** Tensor infos in file order. */
    public Map<String, Info> infos() {
        return tensors;
    }

    private Object require(String key) {
        Object v = metadata.get(key);
        if (v == null) {
            throw new IllegalArgumentException(file.getFileName() + ": missing metadata '" + key + "'");
        }
        return v;
    }

    private <T> T typed(String key, Class<T> cls, String expected) {
        Object v = require(key);
        if (!cls.isInstance(v)) {
            throw new IllegalArgumentException(file.getFileName() + ": metadata '" + key + "' is " + valueType(key) + ", expected " + expected);
        }
        return cls.cast(v);
    }

    /** An integer key; a missing key or another type is an error naming the file and key. */
    public long getLong(String key) {
        return typed(key, Long.class, "an integer");
    }

    public long getLong(String key, long fallback) {
        return metadata.containsKey(key) ? getLong(key) : fallback;
    }

    public double getDouble(String key) {
        return typed(key, Double.class, "a float");
    }

    public double getDouble(String key, double fallback) {
        return metadata.containsKey(key) ? getDouble(key) : fallback;
    }

    public String getString(String key) {
        return typed(key, String.class, "a string");
    }

    public boolean getBool(String key, boolean fallback) {
        return metadata.containsKey(key) ? typed(key, Boolean.class, "a bool") : fallback;
    }

    public List<?> getList(String key) {
        return typed(key, List.class, "an array");
    }

    private Info info(String name) {
        Info i = tensors.get(name);
        if (i == null) {
            throw new IllegalArgumentException(file.getFileName() + ": no tensor '" + name + "'");
        }
        return i;
    }

    @Override
    public Set<String> names() {
        return tensors.keySet();
    }

    @Override
    public boolean has(String name) {
        return tensors.containsKey(name);
    }

    @Override
    public long[] shape(String name) {
        return info(name).shape().clone();
    }

    @Override
    public String storedType(String name) {
        return info(name).type().name();
    }

    @Override
    public Tensor tensor(String name) throws TensorFileException {
        Info i = info(name);
        if (i.type().dtype == null) {
            throw new TensorFileException(file, "tensor '" + name + "' is " + i.type() + ", which Kestrel does not load (F32, F16, BF16, Q8_0 are supported)");
        }
        return Tensor.wrap(seg.asSlice(i.start(), i.bytes()), i.type().dtype, i.shape());
    }

    @Override
    public String describe() {
        return file.toString();
    }

    @Override
    public String toString() {
        return "Gguf[" + file.getFileName() + ", v" + version + ", " + metadata.size() + " keys, " + tensors.size() + " tensors: "
                + String.join(", ", tensors.keySet().stream().limit(4).toList()) + (tensors.size() > 4 ? ", ..." : "") + "]";
    }
}
