package ai.kestrel.train.eval;

import java.math.BigDecimal;
import java.math.MathContext;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Finds the final answer in a model's solution to a math problem and compares answers.
 *
 * <p>Explicit markers win over a bare number: {@code #### x}, {@code \boxed{x}} (and {@code \fbox}), "The (final)
 * answer is x", "Answer: x"; among markers the one that starts last counts. A marker's content is cleaned of
 * markdown, {@code $}, {@code %}, {@code \text{}}, {@code \left}/{@code \right}, spacing commands, a leading
 * {@code x =}, and a number in it is written canonically: thousands separators dropped ({@code 1,234}), signs kept
 * (also the Unicode minus), trailing zeros of decimals dropped ({@code 18.00 -> 18}), fractions ({@code 3/4},
 * {@code \frac{3}{4}}, {@code \dfrac}, {@code \tfrac}) kept as {@code p/q}. Content that is not a number (a MATH
 * answer like {@code \sqrt{5}} or {@code (1,2)}) is kept as text without spaces; words are the answer after {@code ####}
 * or in {@code \boxed{}}, and a single word after a phrase ({@code The answer is: B}). Without a marker the answer is the
 * last number in the text; a text with no number (a loop of words) has no answer.
 */
public final class Answers {
    private Answers() {
    }

    private static final Pattern HASHES = Pattern.compile("####\\s*([^\\n]*)");
    private static final Pattern PHRASE = Pattern.compile(
            "(?i)(?:\\bthe\\s+(?:final\\s+)?answer\\s+is\\s*[:：]?|\\b(?:final\\s+)?answer\\s*[*_]*\\s*[:：])\\s*([^\\n]*)");
    private static final Pattern BOXED = Pattern.compile("\\\\(?:boxed|fbox)\\s*\\{");
    /** A number with optional sign, thousands separators, decimals and a fraction bar. */
    private static final Pattern NUMBER = Pattern.compile(
            "(?<![\\w.])([-−+]?)(\\d{1,3}(?:,\\d{3})+(?![\\d])|\\d+)(\\.\\d+)?(?:\\s*/\\s*(\\d+(?:\\.\\d+)?))?(?![\\d])|(?<![\\w])([-−+]?)\\.(\\d+)(?![\\d])");
    private static final Pattern FRAC = Pattern.compile("\\\\[dt]?frac\\s*\\{([^{}]*)\\}\\s*\\{([^{}]*)\\}");
    private static final Pattern FRAC_SHORT = Pattern.compile("\\\\[dt]?frac\\s*(\\d)(\\d)");
    private static final Pattern TEXT_CMD = Pattern.compile("\\\\(?:text|textbf|mathrm|mathbf|mbox|textit)\\s*\\{([^{}]*)\\}");
    private static final Pattern LEAD_VAR = Pattern.compile("^[a-zA-Z](?:_\\{?\\w+\\}?)?\\s*=\\s*");
    private static final Pattern NUMBER_THEN_WORDS = Pattern.compile("^([-−+]?[\\d.,/]+)\\s*([a-zA-Z][a-zA-Z .]*)?[.!]?$");

    /** Longest prose after a marker that is still read as the answer's sentence. */
    private static final int PHRASE_CHARS = 60;

    /** A marker found in a text: where it starts and what it holds (raw). */
    private record Found(int start, String content, boolean strong) {
    }

    /** The final answer of {@code text}, canonical (see the class comment), or null when there is none. */
    public static String extract(String text) {
        if (text == null || text.isEmpty()) {
            return null;
        }
        List<Found> marks = new ArrayList<>();
        Matcher m = HASHES.matcher(text);
        while (m.find()) {
            marks.add(new Found(m.start(), m.group(1), true));
        }
        m = BOXED.matcher(text);
        while (m.find()) {
            int close = matchingBrace(text, m.end() - 1);
            if (close > 0) {
                marks.add(new Found(m.start(), text.substring(m.end(), close), true));
            }
        }
        m = PHRASE.matcher(text);
        while (m.find()) {
            String rest = m.group(1);
            // "The answer is \boxed{5}" is the boxed marker's; the phrase adds nothing
            if (!BOXED.matcher(rest).lookingAt()) {
                marks.add(new Found(m.start(), rest, false));
            }
        }
        marks.sort((a, b) -> Integer.compare(b.start(), a.start()));
        for (Found f : marks) {
            String a = fromMarker(f.content(), f.strong());
            if (a != null) {
                return a;
            }
        }
        return lastNumber(cleanLatex(text));
    }

    /** Canonical answer from a phrase marker's content, or null when it holds nothing usable. */
    static String fromMarker(String raw) {
        return fromMarker(raw, false);
    }

    /**
     * Canonical answer from a marker's content, or null when it holds nothing usable. Without a number, the text
     * of a {@code ####} or {@code \boxed{}} marker is the answer ({@code #### yes}); after a phrase ("The answer
     * is") only a single word is.
     */
    static String fromMarker(String raw, boolean strong) {
        String s = cleanLatex(raw).strip();
        s = s.replaceAll("^[*_`#>\\s]+|[*_`\\s]+$", "");
        s = stripOuter(s);
        s = LEAD_VAR.matcher(s).replaceFirst("");
        // cut a sentence that goes on after the answer: "18. Then ..." / "18, because ..."
        s = s.replaceAll("(?<=\\d)\\.(\\s+[A-Za-z].*)?$", "").strip();
        s = s.replaceAll("[.;:,!]+$", "").strip();
        if (s.isEmpty()) {
            return null;
        }
        String whole = numberCanonical(s);
        if (whole != null) {
            return whole;
        }
        Matcher nw = NUMBER_THEN_WORDS.matcher(s);
        if (nw.matches()) {
            String n = numberCanonical(nw.group(1));
            if (n != null) {
                return n;
            }
        }
        // a marker followed by a short phrase: "is 18 dollars per day", "is: she makes 18" -> its first number;
        // a long one (the model went on reasoning) is no answer; an expression is kept whole (a MATH answer)
        if (!s.matches(".*[\\\\^{}()\\[\\]].*")) {
            Matcher n = NUMBER.matcher(s);
            if (s.length() <= PHRASE_CHARS && n.find()) {
                return canonical(n);
            }
            String words = s.replaceAll("\\s+", " ");
            boolean oneWord = words.matches("[\\p{L}\\p{N}'_-]{1,20}");
            return strong && words.length() <= PHRASE_CHARS || oneWord ? words : null;
        }
        return s.replaceAll("\\s+", "");
    }

    /** The text with LaTeX that hides numbers unwrapped: fractions as p/q, \text{}, \left, spacing, $ and %. */
    static String cleanLatex(String s) {
        String t = s;
        for (int i = 0; i < 4; i++) {
            String before = t;
            t = TEXT_CMD.matcher(t).replaceAll(r -> Matcher.quoteReplacement(r.group(1)));
            t = FRAC.matcher(t).replaceAll(r -> Matcher.quoteReplacement(fracText(r.group(1), r.group(2))));
            if (t.equals(before)) {
                break;
            }
        }
        t = FRAC_SHORT.matcher(t).replaceAll("$1/$2");
        t = t.replace("\\left", "").replace("\\right", "").replace("\\!", "").replace("\\,", "").replace("\\;", "")
                .replace("\\ ", " ").replace("\\$", "").replace("\\%", "").replace("^\\circ", "").replace("^{\\circ}", "")
                .replace("\\displaystyle", "").replace('\u2212', '-').replace("\u00a0", " ").replace("\u2009", "");
        t = t.replace("$", "").replace("%", "");
        return t;
    }

    private static String fracText(String num, String den) {
        String n = num.strip();
        String d = den.strip();
        boolean simpleN = n.matches("[-+]?[\\d.]+");
        boolean simpleD = d.matches("[\\d.]+");
        return (simpleN ? n : "(" + n + ")") + "/" + (simpleD ? d : "(" + d + ")");
    }

    /** Drops pairs of braces that enclose the whole string ({@code {{12}} -> 12}). */
    private static String stripOuter(String s) {
        String t = s;
        while (t.length() >= 2 && t.charAt(0) == '{' && matchingBrace(t, 0) == t.length() - 1) {
            t = t.substring(1, t.length() - 1).strip();
        }
        return t;
    }

    /** Index of the brace closing the one at {@code open}, or -1. */
    private static int matchingBrace(String s, int open) {
        int depth = 0;
        for (int i = open; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '\\' && i + 1 < s.length() && (s.charAt(i + 1) == '{' || s.charAt(i + 1) == '}')) {
                i++;
                continue;
            }
            if (c == '{') {
                depth++;
            } else if (c == '}') {
                depth--;
                if (depth == 0) {
                    return i;
                }
            }
        }
        return -1;
    }

    private static String lastNumber(String text) {
        Matcher m = NUMBER.matcher(text);
        String last = null;
        while (m.find()) {
            last = canonical(m);
        }
        return last;
    }

    /** {@code s} as a canonical number when all of it is one number (or fraction), else null. */
    static String numberCanonical(String s) {
        Matcher m = NUMBER.matcher(s.strip());
        if (m.matches()) {
            return canonical(m);
        }
        return null;
    }

    private static String canonical(Matcher m) {
        String sign;
        String intPart;
        String frac;
        String den = null;
        if (m.group(2) != null) {
            sign = m.group(1);
            intPart = m.group(2).replace(",", "");
            frac = m.group(3) == null ? "" : m.group(3);
            den = m.group(4);
        } else {
            sign = m.group(5);
            intPart = "0";
            frac = "." + m.group(6);
        }
        boolean negative = sign != null && (sign.equals("-") || sign.equals("−"));
        String num = decimalText(new BigDecimal(intPart + frac));
        if (den != null) {
            String d = decimalText(new BigDecimal(den));
            return (negative && !num.equals("0") ? "-" : "") + num + "/" + d;
        }
        return (negative && !num.equals("0") ? "-" : "") + num;
    }

    private static String decimalText(BigDecimal v) {
        BigDecimal s = v.stripTrailingZeros();
        if (s.scale() < 0) {
            s = s.setScale(0);
        }
        return s.toPlainString();
    }

    /**
     * The value of a canonical numeric answer ({@code "-12"}, {@code "3.5"}, {@code "3/4"}), or null when it is
     * not a number.
     */
    public static BigDecimal value(String answer) {
        if (answer == null) {
            return null;
        }
        String a = numberCanonical(cleanLatex(answer).replaceAll("^[{(]|[})]$", ""));
        if (a == null) {
            return null;
        }
        int slash = a.indexOf('/');
        try {
            if (slash < 0) {
                return new BigDecimal(a);
            }
            BigDecimal d = new BigDecimal(a.substring(slash + 1));
            if (d.signum() == 0) {
                return null;
            }
            return new BigDecimal(a.substring(0, slash)).divide(d, MathContext.DECIMAL64);
        } catch (NumberFormatException e) {
            return null;
        }
    }

    /**
     * Whether a predicted answer equals the gold one: numerically (relative 1e-6) where both are numbers, else as
     * text without spaces, {@code \left}/{@code \right}, {@code \dfrac}->{@code \frac} and letter case.
     */
    public static boolean equivalent(String predicted, String gold) {
        if (predicted == null || gold == null) {
            return false;
        }
        BigDecimal p = value(predicted);
        BigDecimal g = value(gold);
        if (p != null && g != null) {
            BigDecimal diff = p.subtract(g).abs();
            BigDecimal scale = g.abs().max(BigDecimal.ONE);
            return diff.compareTo(scale.multiply(new BigDecimal("1e-6"))) <= 0;
        }
        return textKey(predicted).equals(textKey(gold));
    }

    private static String textKey(String s) {
        String t = cleanLatex(s).replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac");
        return t.replaceAll("\\s+", "").replaceAll("[.]+$", "").toLowerCase(Locale.ROOT);
    }

    /** The gold answer of a GSM8K solution (after {@code ####}) or a MetaMathQA response ("The answer is: x"). */
    public static String gold(String solution) {
        String a = extract(solution);
        if (a == null) {
            throw new IllegalArgumentException("no final answer (#### x, \\boxed{x} or 'The answer is: x') in the reference solution");
        }
        return a;
    }

}
