package ai.kestrel.model.tokenizer;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;

/**
 * A byte-level BPE tokenizer, as Hugging Face's {@code tokenizers} runs a {@code tokenizer.json} and llama.cpp
 * runs the same vocabulary from GGUF metadata.
 *
 * <p>{@link #encode} recognises added/special tokens written in the text (llama.cpp's
 * {@code parse_special = true}) and prepends nothing; the rest is pre-tokenized and BPE-encoded.
 * {@link #decode} and {@link #streamDecoder()} turn ids back into text; invalid UTF-8 becomes U+FFFD, never an
 * exception. Ids outside the vocabulary (models pad their embedding past the tokenizer) decode to nothing.
 */
public final class Tokenizer {
    /** llama.cpp's LLAMA3 pre-tokenizer regex, which Falcon-H1's tokenizer.json also uses. */
    public static final String LLAMA3_PATTERN = GgufVocab.LLAMA3;

    private final String source;
    private final List<PreTokenizer> pre;
    private final boolean preMapsBytes;
    private final Bpe bpe;
    private final String[] tokens;
    private final Map<String, Integer> vocab;
    private final AddedToken[] added;
    private final Map<Integer, AddedToken> addedById;
    private final Map<Character, List<AddedToken>> addedByFirst = new HashMap<>();

    Tokenizer(String source, List<PreTokenizer> pre, Map<String, Integer> vocab, List<String[]> merges, boolean ignoreMerges,
              Integer unk, List<AddedToken> addedTokens) {
        this.source = source;
        this.pre = List.copyOf(pre);
        this.preMapsBytes = pre.stream().anyMatch(p -> p instanceof PreTokenizer.ByteLevelStep);
        this.vocab = vocab;
        this.bpe = new Bpe(vocab, merges, ignoreMerges, unk);
        int size = vocab.values().stream().mapToInt(Integer::intValue).max().orElse(-1) + 1;
        for (AddedToken a : addedTokens) {
            size = Math.max(size, a.id() + 1);
        }
        this.tokens = new String[size];
        for (var e : vocab.entrySet()) {
            tokens[e.getValue()] = e.getKey();
        }
        this.added = addedTokens.toArray(new AddedToken[0]);
        Map<Integer, AddedToken> byId = new HashMap<>();
        for (AddedToken a : added) {
            byId.put(a.id(), a);
            if (!a.content().isEmpty()) {
                addedByFirst.computeIfAbsent(a.content().charAt(0), k -> new ArrayList<>()).add(a);
            }
        }
        for (List<AddedToken> l : addedByFirst.values()) {
            l.sort((x, y) -> Integer.compare(y.content().length(), x.content().length())); // longest first
        }
        this.addedById = Collections.unmodifiableMap(byId);
    }

    /** Reads a Hugging Face {@code tokenizer.json}. */
    public static Tokenizer fromJson(Path file) throws IOException {
        return HfTokenizerJson.read(file);
    }

    /** Builds the tokenizer llama.cpp would from GGUF metadata ({@code tokenizer.ggml.*}). */
    public static Tokenizer fromGguf(Map<String, Object> metadata, String source) {
        return GgufVocab.build(metadata, source);
    }

    /** Where this tokenizer was read from. */
    public String source() {
        return source;
    }

    /** One more than the largest id this tokenizer knows. */
    public int size() {
        return tokens.length;
    }

    /** The id of a token's text (vocabulary or added token). */
    public OptionalInt id(String token) {
        Integer v = vocab.get(token);
        if (v != null) {
            return OptionalInt.of(v);
        }
        for (AddedToken a : added) {
            if (a.content().equals(token)) {
                return OptionalInt.of(a.id());
            }
        }
        return OptionalInt.empty();
    }

    /** The stored text of {@code id} (byte-level form for vocabulary tokens), or {@code null}. */
    public String token(int id) {
        AddedToken a = addedById.get(id);
        if (a != null) {
            return a.content();
        }
        return id >= 0 && id < tokens.length ? tokens[id] : null;
    }

    /** True for added tokens marked special (control tokens such as {@code <|im_end|>}). */
    public boolean isSpecial(int id) {
        AddedToken a = addedById.get(id);
        return a != null && a.special();
    }

    /** Token ids of {@code text}. */
    public int[] encode(String text) {
        List<Integer> out = new ArrayList<>();
        int start = 0;
        int i = 0;
        while (i < text.length()) {
            int[] m = matchAdded(text, i);
            if (m == null) {
                i++;
                continue;
            }
            // m = {id, matchStart, matchEnd}: text before the (whitespace-extended) match is ordinary text
            encodeText(text.substring(start, m[1]), out);
            out.add(m[0]);
            start = m[2];
            i = m[2];
        }
        encodeText(text.substring(start), out);
        return out.stream().mapToInt(Integer::intValue).toArray();
    }

    /** The longest added token starting at {@code i}, extended over whitespace per lstrip/rstrip; null if none. */
    private int[] matchAdded(String text, int i) {
        List<AddedToken> cands = addedByFirst.get(text.charAt(i));
        if (cands == null) {
            return null;
        }
        for (AddedToken a : cands) {
            if (!text.startsWith(a.content(), i)) {
                continue;
            }
            int s = i;
            int e = i + a.content().length();
            if (a.singleWord()) {
                boolean before = s == 0 || !isWordChar(text.charAt(s - 1));
                boolean after = e == text.length() || !isWordChar(text.charAt(e));
                if (!before || !after) {
                    continue;
                }
            }
            if (a.lstrip()) {
                while (s > 0 && Character.isWhitespace(text.charAt(s - 1))) {
                    s--;
                }
            }
            if (a.rstrip()) {
                while (e < text.length() && Character.isWhitespace(text.charAt(e))) {
                    e++;
                }
            }
            return new int[] {a.id(), s, e};
        }
        return null;
    }

    private static boolean isWordChar(char c) {
        return Character.isLetterOrDigit(c) || c == '_';
    }

    private void encodeText(String text, List<Integer> out) {
        if (text.isEmpty()) {
            return;
        }
        List<String> pieces = new ArrayList<>(List.of(text));
        for (PreTokenizer p : pre) {
            pieces = p.apply(pieces);
        }
        for (String piece : pieces) {
            if (!piece.isEmpty()) {
                bpe.encode(preMapsBytes ? piece : ByteLevel.encode(piece), out);
            }
        }
    }

    /** Text of {@code ids}; malformed UTF-8 becomes U+FFFD. */
    public String decode(int[] ids) {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        for (int id : ids) {
            appendBytes(id, b);
        }
        return new String(b.toByteArray(), StandardCharsets.UTF_8);
    }

    /** A decoder for streaming output, one id at a time. */
    public StreamDecoder streamDecoder() {
        return new StreamDecoder(this);
    }

    /** The bytes of one token: an added token's own text, a vocabulary token's byte-level bytes. */
    void appendBytes(int id, ByteArrayOutputStream b) {
        AddedToken a = addedById.get(id);
        if (a != null) {
            byte[] u = a.content().getBytes(StandardCharsets.UTF_8);
            b.write(u, 0, u.length);
            return;
        }
        if (id >= 0 && id < tokens.length && tokens[id] != null) {
            ByteLevel.decode(tokens[id], b);
        }
    }

    @Override
    public String toString() {
        return "Tokenizer[" + source + ", " + vocab.size() + " tokens, " + added.length + " added]";
    }
}
