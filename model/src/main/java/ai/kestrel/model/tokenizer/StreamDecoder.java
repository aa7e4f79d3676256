package ai.kestrel.model.tokenizer;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CoderResult;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;

/**
 * Decodes ids one at a time for streaming output: text is released only once its bytes form whole UTF-8
 * characters, so a character split across tokens (emoji, CJK in byte tokens) is held back until complete.
 * Malformed bytes become U+FFFD; {@link #finish()} flushes what is left. Never throws on bad bytes.
 */
public final class StreamDecoder {
    private final Tokenizer tokenizer;
    private final CharsetDecoder utf8 = StandardCharsets.UTF_8.newDecoder()
            .onMalformedInput(CodingErrorAction.REPLACE)
            .onUnmappableCharacter(CodingErrorAction.REPLACE);
    private ByteBuffer pending = ByteBuffer.allocate(64);

    StreamDecoder(Tokenizer tokenizer) {
        this.tokenizer = tokenizer;
        pending.flip();
    }

    /** Adds one id; returns the text that became complete (possibly empty). */
    public String next(int id) {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        tokenizer.appendBytes(id, b);
        return push(b.toByteArray(), false);
    }

    /** Flushes held bytes (an incomplete character at the very end becomes U+FFFD). */
    public String finish() {
        return push(new byte[0], true);
    }

    private String push(byte[] bytes, boolean end) {
        ByteBuffer in = ByteBuffer.allocate(pending.remaining() + bytes.length);
        in.put(pending).put(bytes).flip();
        CharBuffer out = CharBuffer.allocate(in.remaining() * 2 + 4);
        CoderResult r = utf8.decode(in, out, end);
        if (end) {
            utf8.flush(out);
            utf8.reset();
        }
        if (r.isError()) {
            throw new IllegalStateException(r.toString()); // unreachable: errors are replaced
        }
        pending = in.slice();
        out.flip();
        return out.toString();
    }
}
