package ai.kestrel.engine.io;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/**
 * A bounds-checked little-endian reader over a mapped file: every read first checks that the bytes exist and
 * fails with a {@link TensorFileException} naming the file, the offset and what was being read.
 */
final class Cursor {
    private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong I64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfDouble F64 = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    final Path file;
    final MemorySegment seg;
    long pos;

    Cursor(Path file, MemorySegment seg, long pos) {
        this.file = file;
        this.seg = seg;
        this.pos = pos;
    }

    long remaining() {
        return seg.byteSize() - pos;
    }

    TensorFileException fail(String fault) {
        return new TensorFileException(file, fault);
    }

    /** Throws unless {@code n} more bytes exist; {@code what} names them. */
    void need(long n, String what) throws TensorFileException {
        if (n < 0 || n > remaining()) {
            throw fail(what + " at byte " + pos + " needs " + (n < 0 ? "a negative number of" : String.valueOf(n))
                    + " bytes, the file has " + Math.max(0, remaining()) + " left (truncated or corrupt)");
        }
    }

    int u8(String what) throws TensorFileException {
        need(1, what);
        return seg.get(ValueLayout.JAVA_BYTE, pos++) & 0xff;
    }

    short i16(String what) throws TensorFileException {
        need(2, what);
        short v = seg.get(I16, pos);
        pos += 2;
        return v;
    }

    int i32(String what) throws TensorFileException {
        need(4, what);
        int v = seg.get(I32, pos);
        pos += 4;
        return v;
    }

    long i64(String what) throws TensorFileException {
        need(8, what);
        long v = seg.get(I64, pos);
        pos += 8;
        return v;
    }

    float f32(String what) throws TensorFileException {
        need(4, what);
        float v = seg.get(F32, pos);
        pos += 4;
        return v;
    }

    double f64(String what) throws TensorFileException {
        need(8, what);
        double v = seg.get(F64, pos);
        pos += 8;
        return v;
    }

    /** {@code n} bytes as strict UTF-8 (malformed input is an error naming {@code what}). */
    String utf8(long n, String what) throws TensorFileException {
        need(n, what);
        byte[] b = seg.asSlice(pos, n).toArray(ValueLayout.JAVA_BYTE);
        pos += n;
        return decodeUtf8(b, what);
    }

    String decodeUtf8(byte[] b, String what) throws TensorFileException {
        try {
            return StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(b)).toString();
        } catch (CharacterCodingException e) {
            throw fail(what + " is not valid UTF-8");
        }
    }
}
