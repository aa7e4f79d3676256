package ai.kestrel.model.tokenizer;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * One pre-tokenization step as Hugging Face's {@code tokenizers} defines it: it cuts every piece of text into
 * smaller pieces. Pieces never cross an earlier cut. {@link ByteLevel} maps a piece's bytes to characters;
 * steps after it see mapped text (digits and ASCII punctuation map to themselves).
 */
abstract sealed class PreTokenizer {
    abstract List<String> apply(List<String> pieces);

    /** How a split keeps the delimiters it finds (HF {@code SplitDelimiterBehavior}). */
    enum Behavior {
        REMOVED, ISOLATED, MERGED_WITH_PREVIOUS, MERGED_WITH_NEXT, CONTIGUOUS;

        static Behavior parse(String s) {
            return switch (s) {
                case "Removed" -> REMOVED;
                case "Isolated" -> ISOLATED;
                case "MergedWithPrevious" -> MERGED_WITH_PREVIOUS;
                case "MergedWithNext" -> MERGED_WITH_NEXT;
                case "Contiguous" -> CONTIGUOUS;
                default -> throw new IllegalArgumentException("unknown split behavior '" + s + "'");
            };
        }
    }

    /**
     * Cuts {@code piece} at the spans {@code matches} marks ({@code [start, end)} pairs, in order, not
     * overlapping) and keeps them per {@code behavior}, as HF's {@code NormalizedString::split}.
     */
    static void cut(String piece, List<int[]> matches, Behavior behavior, List<String> out) {
        // 1. alternate non-matched and matched spans, each flagged
        List<int[]> spans = new ArrayList<>(); // {start, end, isMatch}
        int at = 0;
        for (int[] m : matches) {
            if (m[0] > at) {
                spans.add(new int[] {at, m[0], 0});
            }
            if (m[1] > m[0]) {
                spans.add(new int[] {m[0], m[1], 1});
            }
            at = m[1];
        }
        if (at < piece.length()) {
            spans.add(new int[] {at, piece.length(), 0});
        }
        // 2. apply the behavior
        switch (behavior) {
            case REMOVED -> {
                for (int[] s : spans) {
                    if (s[2] == 0) {
                        out.add(piece.substring(s[0], s[1]));
                    }
                }
            }
            case ISOLATED -> {
                for (int[] s : spans) {
                    out.add(piece.substring(s[0], s[1]));
                }
            }
            case CONTIGUOUS -> {
                int i = 0;
                while (i < spans.size()) {
                    int j = i;
                    while (j + 1 < spans.size() && spans.get(j + 1)[2] == spans.get(i)[2] && spans.get(i)[2] == 1) {
                        j++;
                    }
                    out.add(piece.substring(spans.get(i)[0], spans.get(j)[1]));
                    i = j + 1;
                }
            }
            case MERGED_WITH_PREVIOUS -> {
                int start = -1;
                for (int[] s : spans) {
                    if (start < 0) {
                        start = s[0];
                    }
                    if (s[2] == 1) {
                        out.add(piece.substring(start, s[1]));
                        start = -1;
                    }
                }
                if (start >= 0) {
                    out.add(piece.substring(start));
                }
            }
            case MERGED_WITH_NEXT -> {
                int start = -1;
                for (int k = 0; k < spans.size(); k++) {
                    int[] s = spans.get(k);
                    if (s[2] == 1) {
                        if (start >= 0) {
                            out.add(piece.substring(start, s[0]));
                        }
                        start = s[0];
                    } else if (start < 0) {
                        start = s[0];
                    }
                }
                if (start >= 0) {
                    out.add(piece.substring(start));
                }
            }
        }
    }

    /** Matches of {@code p} in {@code s} as {@code [start, end)} (empty matches skipped). */
    static List<int[]> matches(Pattern p, String s) {
        List<int[]> out = new ArrayList<>();
        Matcher m = p.matcher(s);
        while (m.find()) {
            if (m.end() > m.start()) {
                out.add(new int[] {m.start(), m.end()});
            }
        }
        return out;
    }

    /** Java pattern for an Oniguruma/PCRE one as the tokenizers write them: Unicode {@code \s}. */
    static Pattern compile(String regex) {
        return Pattern.compile(regex, Pattern.UNICODE_CHARACTER_CLASS);
    }

    /** HF {@code Split}: a regex (or literal string) with a behavior; {@code invert} keeps the non-matches instead. */
    static final class Split extends PreTokenizer {
        final Pattern pattern;
        final Behavior behavior;
        final boolean invert;

        Split(Pattern pattern, Behavior behavior, boolean invert) {
            this.pattern = pattern;
            this.behavior = behavior;
            this.invert = invert;
        }

        @Override
        List<String> apply(List<String> pieces) {
            List<String> out = new ArrayList<>();
            for (String p : pieces) {
                List<int[]> m = matches(pattern, p);
                if (invert) {
                    List<int[]> inv = new ArrayList<>();
                    int at = 0;
                    for (int[] x : m) {
                        if (x[0] > at) {
                            inv.add(new int[] {at, x[0]});
                        }
                        at = x[1];
                    }
                    if (at < p.length()) {
                        inv.add(new int[] {at, p.length()});
                    }
                    m = inv;
                }
                cut(p, m, behavior, out);
            }
            return out;
        }
    }

    /** GPT-2's pattern, which HF's {@code ByteLevel(use_regex=true)} splits with. */
    static final Pattern GPT2 = compile("'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+");

    /** HF {@code ByteLevel}: optionally a leading space, optionally GPT-2's split, then bytes to characters. */
    static final class ByteLevelStep extends PreTokenizer {
        final boolean addPrefixSpace;
        final boolean useRegex;

        ByteLevelStep(boolean addPrefixSpace, boolean useRegex) {
            this.addPrefixSpace = addPrefixSpace;
            this.useRegex = useRegex;
        }

        @Override
        List<String> apply(List<String> pieces) {
            List<String> out = new ArrayList<>();
            for (String piece : pieces) {
                String p = piece;
                // HF prepends to every split it is given, not only the first
                if (addPrefixSpace && !p.startsWith(" ")) {
                    p = " " + p;
                }
                List<String> parts = new ArrayList<>();
                if (useRegex) {
                    cut(p, matches(GPT2, p), Behavior.ISOLATED, parts);
                } else {
                    parts.add(p);
                }
                for (String part : parts) {
                    out.add(ByteLevel.encode(part));
                }
            }
            return out;
        }
    }

    /** HF {@code Punctuation}: splits on Unicode punctuation (and ASCII punctuation, which Rust counts). */
    static final class Punctuation extends PreTokenizer {
        static final Pattern PUNCT = compile("[\\p{P}!-/:-@\\[-`{-~]");
        final Behavior behavior;

        Punctuation(Behavior behavior) {
            this.behavior = behavior;
        }

        @Override
        List<String> apply(List<String> pieces) {
            List<String> out = new ArrayList<>();
            for (String p : pieces) {
                cut(p, matches(PUNCT, p), behavior, out);
            }
            return out;
        }
    }

    /** HF {@code Digits}: splits ASCII digits off, one by one or in runs. */
    static final class Digits extends PreTokenizer {
        static final Pattern DIGIT = Pattern.compile("[0-9]");
        final boolean individual;

        Digits(boolean individual) {
            this.individual = individual;
        }

        @Override
        List<String> apply(List<String> pieces) {
            List<String> out = new ArrayList<>();
            for (String p : pieces) {
                cut(p, matches(DIGIT, p), individual ? Behavior.ISOLATED : Behavior.CONTIGUOUS, out);
            }
            return out;
        }
    }
}
