package ai.kestrel.kernels.loss;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.fail;

import ai.kestrel.kernels.Buf;
import ai.kestrel.kernels.Twin;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class CrossEntropyTest {
    /** The implementation under test against {@link CrossEntropy#REF}; {@link CrossEntropyCudaTest} runs the same cases on the GPU. */
    CrossEntropy impl() {
        return CrossEntropy.CPU;
    }

    static Stream<Arguments> shapes() {
        return Stream.of(Arguments.of(1L, 1, 1), Arguments.of(2L, 3, 7), Arguments.of(3L, 9, 33), Arguments.of(4L, 4, 4097),
                Arguments.of(5L, 6, 65536));
    }

    @ParameterizedTest(name = "seed={0} rows={1} V={2}")
    @MethodSource("shapes")
    void cpuMatchesReference(long seed, int rows, int v) {
        try (Arena arena = Arena.ofShared()) {
            SplittableRandom rnd = new SplittableRandom(seed);
            Buf logits = Twin.randn(arena, rnd, rows * v, 5);
            MemorySegment labels = arena.allocate(rows * 4L, 4);
            for (int r = 0; r < rows; r++) {
                labels.setAtIndex(ValueLayout.JAVA_INT, r, r % 3 == 1 ? CrossEntropy.IGNORE : rnd.nextInt(v));
            }
            // every output is written, ignored rows' too: they all start as NaN
            Buf lr = Twin.nans(arena, rows), lc = Twin.nans(arena, rows), sr = Twin.nans(arena, rows), sc = Twin.nans(arena, rows);
            int nr = CrossEntropy.REF.forward(logits, labels, rows, v, lr, sr);
            int nc = impl().forward(logits, labels, rows, v, lc, sc);
            String c = "seed=" + seed + " rows=" + rows + " V=" + v;
            assertEquals(nr, nc, c + " count");
            Twin.assertWritten(c + " loss", lr, lc, 2e-5, 1e-5);
            Twin.assertWritten(c + " lse", sr, sc, 2e-5, 1e-5);
            Buf dr = Twin.nans(arena, (long) rows * v), dc = Twin.nans(arena, (long) rows * v);
            CrossEntropy.REF.backward(logits, labels, sr, 0.7, dr, rows, v);
            impl().backward(logits, labels, sr, 0.7, dc, rows, v);
            Twin.assertWritten(c + " dlogits", dr, dc, 1e-6, 1e-4);
            assertIgnoredRowsZero(c + " reference", labels, lr, dr, rows, v);
            assertIgnoredRowsZero(c, labels, lc, dc, rows, v);
        }
    }

    /** Asserts that the rows labelled {@link CrossEntropy#IGNORE} have loss 0 and dlogits 0, as the contract says. */
    static void assertIgnoredRowsZero(String what, MemorySegment labels, Buf loss, Buf dlogits, int rows, int v) {
        for (int r = 0; r < rows; r++) {
            if (labels.getAtIndex(ValueLayout.JAVA_INT, r) != CrossEntropy.IGNORE) {
                continue;
            }
            assertEquals(0, loss.get(r), 0, what + " loss of ignored row " + r);
            for (int i = 0; i < v; i++) {
                long at = (long) r * v + i;
                if (dlogits.get(at) != 0) {
                    fail(what + " dlogits of ignored row " + r + " column " + i + " (index " + at + "): " + dlogits.get(at) + " instead of 0");
                }
            }
        }
    }

    @Test
    void knownAnswerAndBadLabel() {
        try (Arena arena = Arena.ofShared()) {
            Buf logits = Buf.ofF64(arena, 0, 0, 0, 0, 1, 2);
            MemorySegment labels = arena.allocate(8, 4);
            labels.setAtIndex(ValueLayout.JAVA_INT, 0, 2);
            labels.setAtIndex(ValueLayout.JAVA_INT, 1, CrossEntropy.IGNORE);
            Buf loss = Buf.allocF64(arena, 2), lse = Buf.allocF64(arena, 2);
            assertEquals(1, CrossEntropy.REF.forward(logits, labels, 2, 3, loss, lse));
            assertEquals(Math.log(3), loss.get(0), 1e-15); // uniform over 3 classes
            assertEquals(0, loss.get(1));
            labels.setAtIndex(ValueLayout.JAVA_INT, 1, 3);
            var e = assertThrows(IllegalArgumentException.class, () -> impl().forward(Buf.allocF32(arena, 6), labels, 2, 3, Buf.allocF32(arena, 2), Buf.allocF32(arena, 2)));
            assertEquals("label 3 at row 1 is outside [0, 3) and is not -100", e.getMessage());
        }
    }
}
