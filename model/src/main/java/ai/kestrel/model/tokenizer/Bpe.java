package ai.kestrel.model.tokenizer;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The BPE model: a piece of byte-level text becomes the vocabulary ids of its merged symbols. Merges are
 * applied lowest rank first (HF {@code BPE::merge_word}); with {@code ignoreMerges}, a piece that is itself in
 * the vocabulary is taken whole (llama.cpp's LLAMA3 handling, HF {@code ignore_merges}). Results are cached
 * per piece.
 */
final class Bpe {
    private final Map<String, Integer> vocab;
    private final Map<Long, Integer> ranks = new HashMap<>();
    private final boolean ignoreMerges;
    private final Integer unk;
    private final Map<String, int[]> cache = new ConcurrentHashMap<>();
    private final String[] tokens;

    Bpe(Map<String, Integer> vocab, List<String[]> merges, boolean ignoreMerges, Integer unk) {
        this.vocab = vocab;
        this.ignoreMerges = ignoreMerges;
        this.unk = unk;
        this.tokens = new String[vocab.values().stream().mapToInt(Integer::intValue).max().orElse(-1) + 1];
        for (var e : vocab.entrySet()) {
            tokens[e.getValue()] = e.getKey();
        }
        for (int r = 0; r < merges.size(); r++) {
            String[] m = merges.get(r);
            Integer a = vocab.get(m[0]);
            Integer b = vocab.get(m[1]);
            Integer ab = vocab.get(m[0] + m[1]);
            if (a == null || b == null || ab == null) {
                throw new IllegalArgumentException("merge " + r + " '" + m[0] + " " + m[1] + "' uses a token that is not in the vocabulary");
            }
            ranks.putIfAbsent(pair(a, b), r);
        }
    }

    private static long pair(int a, int b) {
        return ((long) a << 32) | (b & 0xffffffffL);
    }

    /** Appends the ids of byte-level {@code piece}. */
    void encode(String piece, List<Integer> out) {
        int[] ids = cache.get(piece);
        if (ids == null) {
            ids = merge(piece);
            if (cache.size() < 100_000) {
                cache.put(piece, ids);
            }
        }
        for (int id : ids) {
            out.add(id);
        }
    }

    private int[] merge(String piece) {
        if (ignoreMerges) {
            Integer whole = vocab.get(piece);
            if (whole != null) {
                return new int[] {whole};
            }
        }
        // 1. one symbol per character (a byte-level string has one character per byte)
        List<Integer> sym = new ArrayList<>();
        for (int i = 0; i < piece.length(); ) {
            int cp = piece.codePointAt(i);
            String ch = new String(Character.toChars(cp));
            Integer id = vocab.get(ch);
            if (id == null) {
                if (unk == null) {
                    throw new IllegalArgumentException("character '" + ch + "' (U+" + Integer.toHexString(cp)
                            + ") is not in the vocabulary and there is no unk_token");
                }
                id = unk;
            }
            sym.add(id);
            i += Character.charCount(cp);
        }
        // 2. merge the best-ranked adjacent pair until none is mergeable
        while (sym.size() > 1) {
            int best = Integer.MAX_VALUE;
            int at = -1;
            for (int i = 0; i + 1 < sym.size(); i++) {
                Integer r = ranks.get(pair(sym.get(i), sym.get(i + 1)));
                if (r != null && r < best) {
                    best = r;
                    at = i;
                }
            }
            if (at < 0) {
                break;
            }
            int a = sym.get(at);
            int b = sym.get(at + 1);
            int merged = vocab.get(tokenOf(a) + tokenOf(b));
            // merge every occurrence of this pair, left to right, as HF does for one rank
            List<Integer> next = new ArrayList<>(sym.size());
            for (int i = 0; i < sym.size(); i++) {
                if (i + 1 < sym.size() && sym.get(i) == a && sym.get(i + 1) == b) {
                    next.add(merged);
                    i++;
                } else {
                    next.add(sym.get(i));
                }
            }
            sym = next;
        }
        return sym.stream().mapToInt(Integer::intValue).toArray();
    }

    private String tokenOf(int id) {
        return tokens[id];
    }
}
