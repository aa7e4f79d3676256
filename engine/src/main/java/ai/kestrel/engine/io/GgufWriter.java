package ai.kestrel.engine.io;

import ai.kestrel.engine.Tensor;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Builds and writes a GGUF v3 file: typed metadata in insertion order, then tensors (F32, F16, BF16, Q8_0,
 * ...) in insertion order, each at an offset aligned to {@code general.alignment} (32 unless set). Atomic.
 */
public final class GgufWriter {
    private record Kv(Gguf.ValueType type, Gguf.ValueType elementType, Object value) {
    }

    private final Map<String, Kv> kvs = new LinkedHashMap<>();
    private final Map<String, Tensor> tensors = new LinkedHashMap<>();

    /** Sets {@code key} to {@code value} of GGUF type {@code type} (not ARRAY). */
    public GgufWriter put(String key, Gguf.ValueType type, Object value) {
        if (type == Gguf.ValueType.ARRAY) {
            throw new IllegalArgumentException("use putArray for arrays");
        }
        kvs.put(key, new Kv(type, null, value));
        return this;
    }

    /** Sets {@code key} to an array of {@code elementType} values (not nested). */
    public GgufWriter putArray(String key, Gguf.ValueType elementType, List<?> values) {
        kvs.put(key, new Kv(Gguf.ValueType.ARRAY, elementType, List.copyOf(values)));
        return this;
    }

    public GgufWriter putString(String key, String v) {
        return put(key, Gguf.ValueType.STRING, v);
    }

    public GgufWriter putU32(String key, long v) {
        return put(key, Gguf.ValueType.U32, v);
    }

    public GgufWriter putF32(String key, double v) {
        return put(key, Gguf.ValueType.F32, v);
    }

    public GgufWriter putBool(String key, boolean v) {
        return put(key, Gguf.ValueType.BOOL, v);
    }

    /** Copies every key of {@code src} with its original GGUF type. */
    public GgufWriter putAll(Gguf src) {
        for (var kv : src.metadata().entrySet()) {
            Gguf.ValueType t = src.valueType(kv.getKey());
            if (t == Gguf.ValueType.ARRAY) {
                putArray(kv.getKey(), src.arrayType(kv.getKey()), (List<?>) kv.getValue());
            } else {
                put(kv.getKey(), t, kv.getValue());
            }
        }
        return this;
    }

    /** Adds a tensor (row-major shape; stored with GGUF's reversed dims). */
    public GgufWriter tensor(String name, Tensor t) {
        GgmlType.of(t.dtype());
        tensors.put(name, t);
        return this;
    }

    private int alignment() {
        Kv a = kvs.get("general.alignment");
        return a == null ? Gguf.DEFAULT_ALIGNMENT : (int) ((Number) a.value()).longValue();
    }

    /** Writes the file. */
    public void write(Path file) throws IOException {
        int align = alignment();
        Buf out = new Buf();
        out.i32(Gguf.MAGIC);
        out.i32(3);
        out.i64(tensors.size());
        out.i64(kvs.size());
        for (var kv : kvs.entrySet()) {
            out.string(kv.getKey());
            out.i32(kv.getValue().type().id);
            if (kv.getValue().type() == Gguf.ValueType.ARRAY) {
                out.i32(kv.getValue().elementType().id);
                List<?> list = (List<?>) kv.getValue().value();
                out.i64(list.size());
                for (Object o : list) {
                    out.value(kv.getValue().elementType(), o);
                }
            } else {
                out.value(kv.getValue().type(), kv.getValue().value());
            }
        }
        long offset = 0;
        List<Long> offsets = new ArrayList<>();
        for (var kv : tensors.entrySet()) {
            Tensor t = kv.getValue();
            long[] shape = t.shape();
            out.string(kv.getKey());
            out.i32(shape.length);
            for (int d = shape.length - 1; d >= 0; d--) {
                out.i64(shape[d]);
            }
            out.i32(GgmlType.of(t.dtype()).id);
            out.i64(offset);
            offsets.add(offset);
            offset += (t.segment().byteSize() + align - 1) / align * align;
        }
        out.pad(align);
        ByteBuffer head = out.buffer();
        AtomicFiles.write(file, ch -> {
            AtomicFiles.writeFully(ch, head);
            long written = 0;
            for (Tensor t : tensors.values()) {
                AtomicFiles.writeFully(ch, t.segment().asByteBuffer());
                written += t.segment().byteSize();
                long pad = (align - written % align) % align;
                AtomicFiles.writeFully(ch, ByteBuffer.allocate((int) pad));
                written += pad;
            }
        });
    }

    /** A growable little-endian byte buffer for the header. */
    private static final class Buf {
        private ByteBuffer b = ByteBuffer.allocate(1 << 16).order(ByteOrder.LITTLE_ENDIAN);

        private void room(int n) {
            if (b.remaining() < n) {
                ByteBuffer nb = ByteBuffer.allocate(Math.max(b.capacity() * 2, b.position() + n)).order(ByteOrder.LITTLE_ENDIAN);
                b.flip();
                nb.put(b);
                b = nb;
            }
        }

        void i32(int v) {
            room(4);
            b.putInt(v);
        }

        void i64(long v) {
            room(8);
            b.putLong(v);
        }

        void string(String s) {
            byte[] u = s.getBytes(StandardCharsets.UTF_8);
            i64(u.length);
            room(u.length);
            b.put(u);
        }

        void value(Gguf.ValueType t, Object o) {
            switch (t) {
                case U8, I8 -> {
                    room(1);
                    b.put((byte) ((Number) o).longValue());
                }
                case U16, I16 -> {
                    room(2);
                    b.putShort((short) ((Number) o).longValue());
                }
                case U32, I32 -> i32((int) ((Number) o).longValue());
                case U64, I64 -> i64(((Number) o).longValue());
                case F32 -> {
                    room(4);
                    b.putFloat(((Number) o).floatValue());
                }
                case F64 -> {
                    room(8);
                    b.putDouble(((Number) o).doubleValue());
                }
                case BOOL -> {
                    room(1);
                    b.put((byte) ((Boolean) o ? 1 : 0));
                }
                case STRING -> string((String) o);
                case ARRAY -> throw new IllegalArgumentException("nested arrays are not written");
            }
        }

        void pad(int align) {
            int p = (align - b.position() % align) % align;
            room(p);
            b.put(new byte[p]);
        }

        ByteBuffer buffer() {
            ByteBuffer out = b.duplicate();
            out.flip();
            return out;
        }
    }
}
