package ai.kestrel.model.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import ai.kestrel.model.testing.Fixture;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * Kestrel's tokenizer against Hugging Face's own (the Rust {@code tokenizers} library, through DJL's binding,
 * test scope only) on thousands of generated strings per fixture: letters of several scripts, emoji, digit
 * runs, whitespace runs, contractions, punctuation and special tokens written in the text.
 */
class HuggingFaceOracleTest {
    static final String[] PARTS = {"the", " The", "hello", "world", "'s", "'T", "'re", " don't", "I'LL", "123", "4567", "0",
        " 3.14", "x=1+2", "$5", "^_^", "a|b", "`code`", "~~", "<=>", "\n", "\n\n", "\r\n", "\t", "  ", "   ", " ", "!", "?!",
        "...", "—", "é", "ñandú", "Ümlaut", "日本語", "世界", "한국어", "Привет", "مرحبا", "👋", "🤖🤖", "∑", "x²",
        "<|im_start|>", "<|im_end|>", "<|end_of_text|>", ">>ANSWER<<", "<|begin_of_text|>", "user", "assistant", "\u00a0",
        "a", "zzz", "tHe", "ing", " ing"};

    static String generate(SplittableRandom rnd) {
        StringBuilder sb = new StringBuilder();
        int n = 1 + rnd.nextInt(8);
        for (int i = 0; i < n; i++) {
            sb.append(PARTS[rnd.nextInt(PARTS.length)]);
            if (rnd.nextInt(3) == 0) {
                sb.append(' ');
            }
        }
        return sb.toString();
    }

    @Test
    void matchesHuggingFaceTokenizersOnGeneratedText() throws IOException {
        int compared = 0;
        for (String m : Fixture.MODELS) {
            Path json = Fixture.of(m).file("tokenizer.json");
            Tokenizer ours = Tokenizer.fromJson(json);
            try (HuggingFaceTokenizer hf = HuggingFaceTokenizer.newInstance(json)) {
                SplittableRandom rnd = new SplittableRandom(m.hashCode());
                for (int i = 0; i < 1500; i++) {
                    String text = generate(rnd);
                    long[] expected = hf.encode(text, false, false).getIds();
                    int[] got = ours.encode(text);
                    int[] exp = Arrays.stream(expected).mapToInt(x -> (int) x).toArray();
                    assertArrayEquals(exp, got, m + " '" + text.replace("\n", "\\n") + "'");
                    assertEquals(hf.decode(expected, false), ours.decode(got), m + " decode '" + text + "'");
                    compared++;
                }
            }
        }
        assertEquals(4500, compared);
    }
}
