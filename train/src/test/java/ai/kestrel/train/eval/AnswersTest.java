package ai.kestrel.train.eval;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class AnswersTest {
    static Stream<Arguments> cases() {
        return Stream.of(
                // GSM8K marker, with the calculator annotations of the reference solutions
                Arguments.of("She makes 9 * 2 = $<<9*2=18>>18 every day.\n#### 18", "18"),
                Arguments.of("#### 1,234", "1234"),
                Arguments.of("####-7", "-7"),
                Arguments.of("#### $18.00", "18"),
                // phrases
                Arguments.of("So the total is 5 + 13 = 18.\nThe answer is: 18", "18"),
                Arguments.of("The answer is 18.", "18"),
                Arguments.of("The final answer is $18$. I hope it is correct.", "18"),
                Arguments.of("Answer: 42", "42"),
                Arguments.of("**Answer:** 42", "42"),
                Arguments.of("**Answer**: **42**", "42"),
                Arguments.of("Final Answer: The final answer is 0.5. I hope it is correct.", "0.5"),
                Arguments.of("The answer is: 18 dollars per day", "18"),
                Arguments.of("The answer is: $1,250.50", "1250.5"),
                Arguments.of("The answer is: 25%", "25"),
                Arguments.of("The answer is: 25\\%", "25"),
                Arguments.of("The answer is: −3", "-3"),
                Arguments.of("the answer is -12.", "-12"),
                Arguments.of("The answer is: .75", "0.75"),
                // boxed, nested braces, fractions, assignments
                Arguments.of("Thus $x = \\boxed{5}$.", "5"),
                Arguments.of("\\boxed{x = 5}", "5"),
                Arguments.of("\\boxed{\\frac{3}{4}}", "3/4"),
                Arguments.of("\\boxed{\\dfrac{3}{4}}", "3/4"),
                Arguments.of("\\boxed{-\\frac{1}{2}}", "-1/2"),
                Arguments.of("\\boxed{\\tfrac12}", "1/2"),
                Arguments.of("\\boxed{\\$1,000}", "1000"),
                Arguments.of("\\boxed{50\\%}", "50"),
                Arguments.of("\\boxed{\\text{18 apples}}", "18"),
                Arguments.of("so $\\boxed{\\dfrac{\\sqrt{3}}{2}}$", "\\dfrac{\\sqrt{3}}{2}"),
                Arguments.of("\\boxed{(1,2)}", "(1,2)"),
                Arguments.of("\\boxed{{12}}", "12"),
                Arguments.of("The answer is \\boxed{7}.", "7"),
                // markers beat the bare last number; the last marker counts
                Arguments.of("The answer is 18. Let me double-check: 18 + 2 = 20", "18"),
                Arguments.of("#### 18\nThe answer is: 20", "20"),
                Arguments.of("\\boxed{3} ... wait, the answer is: 4", "4"),
                Arguments.of("The answer is: 4 ... no: \\boxed{3}", "3"),
                // no marker: the last number, with separators, signs, decimals and fractions
                Arguments.of("She has 3 apples and buys 12 more, 15 in all.", "15"),
                Arguments.of("It costs $1,234,567 in total", "1234567"),
                Arguments.of("The temperature fell to -4 degrees", "-4"),
                Arguments.of("Half of the pie is 1/2", "1/2"),
                Arguments.of("It takes 3.50 hours", "3.5"),
                Arguments.of("10 - 3 = 7", "7"),
                Arguments.of("8-5", "5"),
                // words: after #### or in \boxed{} they are the answer; after a phrase, only a single word is
                Arguments.of("#### chwnxs", "chwnxs"),
                Arguments.of("so $\\boxed{\\text{yes}}$", "yes"),
                Arguments.of("The answer is: B.", "B"),
                Arguments.of("The answer is: not enough information", null),
                Arguments.of("We have 3 of them. The answer is: it depends", "3"),
                // no number: no answer (the loops of the seed's base model)
                Arguments.of("Three\nThree\nThree\nThree\nThree\nThree", null),
                Arguments.of("I don't know.", null),
                Arguments.of("", null),
                // a marker with a long sentence after it is not an answer; the last number stands in
                Arguments.of("To find the answer: we first compute how many eggs are left over and then multiply by 2 to get 18", "18"));
    }

    @ParameterizedTest(name = "[{index}] {1}")
    @MethodSource("cases")
    void extractsTheFinalAnswer(String text, String expected) {
        assertEquals(expected, Answers.extract(text), () -> "text: " + text);
    }

    @Test
    void comparesNumbersNumerically() {
        assertTrue(Answers.equivalent("18", "18.00"));
        assertTrue(Answers.equivalent("0.75", "3/4"));
        assertTrue(Answers.equivalent("-1/2", "-0.5"));
        assertTrue(Answers.equivalent("1234", "1,234"));
        assertFalse(Answers.equivalent("18", "19"));
        assertFalse(Answers.equivalent("0.333", "1/3"));
        assertFalse(Answers.equivalent(null, "3"));
        // not numbers: compared as text, spaces and \dfrac vs \frac ignored
        assertTrue(Answers.equivalent("\\dfrac{\\sqrt{3}}{2}", "\\frac{\\sqrt{3}}{2}"));
        assertTrue(Answers.equivalent("(1, 2)", "(1,2)"));
        assertFalse(Answers.equivalent("(1,2)", "(2,1)"));
        assertTrue(Answers.equivalent("B", "b"));
    }

    @Test
    void goldAnswersOfBothDataSets() {
        assertEquals("72", Answers.gold("Natalia sold 48/2 = <<48/2=24>>24 clips in May.\n#### 72"));
        assertEquals("\\sqrt{5}", Answers.gold("... $\\boxed{\\sqrt{5}}$ units apart.\nThe answer is: \\sqrt{5}"));
        assertThrows(IllegalArgumentException.class, () -> Answers.gold("no marker and no number"));
    }
}
