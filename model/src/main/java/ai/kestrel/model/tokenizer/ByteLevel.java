package ai.kestrel.model.tokenizer;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/**
 * GPT-2's reversible byte-to-character map: printable bytes (33-126, 161-172, 174-255) stand for themselves,
 * the other 68 bytes become the characters 256, 257, ... in byte order. Byte-level BPE vocabularies are
 * written in these characters (a space is {@code 'Ġ'}, a newline {@code 'Ċ'}).
 */
final class ByteLevel {
    private static final char[] BYTE_TO_CHAR = new char[256];
    private static final int[] CHAR_TO_BYTE = new int[512];

    static {
        java.util.Arrays.fill(CHAR_TO_BYTE, -1);
        int next = 256;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174);
            char c = printable ? (char) b : (char) next++;
            BYTE_TO_CHAR[b] = c;
            CHAR_TO_BYTE[c] = b;
        }
    }

    private ByteLevel() {
    }

    /** The UTF-8 bytes of {@code text}, each replaced by its character. */
    static String encode(String text) {
        byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
        char[] out = new char[bytes.length];
        for (int i = 0; i < bytes.length; i++) {
            out[i] = BYTE_TO_CHAR[bytes[i] & 0xff];
        }
        return new String(out);
    }

    /** The character standing for byte {@code b}. */
    static char charOf(int b) {
        return BYTE_TO_CHAR[b & 0xff];
    }

    /**
     * Appends the bytes a byte-level string stands for. Characters outside the map (possible in hand-made
     * vocabularies) are appended as their own UTF-8 bytes.
     */
    static void decode(String s, ByteArrayOutputStream out) {
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            int b = c < CHAR_TO_BYTE.length ? CHAR_TO_BYTE[c] : -1;
            if (b >= 0) {
                out.write(b);
            } else {
                int cp = s.codePointAt(i);
                byte[] u = new String(Character.toChars(cp)).getBytes(StandardCharsets.UTF_8);
                out.write(u, 0, u.length);
                i += Character.charCount(cp) - 1;
            }
        }
    }
}
