package ai.kestrel.kernels.softmax;

import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.kestrel.kernels.Buf;
import ai.kestrel.kernels.Twin;
import java.lang.foreign.Arena;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class SoftmaxTest {
    /** The implementation under test against {@link Softmax#REF}; {@link SoftmaxCudaTest} runs the same cases on the GPU. */
    Softmax impl() {
        return Softmax.CPU;
    }

    static Stream<Arguments> shapes() {
        return Stream.of(Arguments.of(1L, 3, 1), Arguments.of(2L, 4, 7), Arguments.of(3L, 5, 33), Arguments.of(4L, 2, 4097),
                Arguments.of(5L, 64, 512));
    }

    @ParameterizedTest(name = "seed={0} rows={1} D={2}")
    @MethodSource("shapes")
    void cpuMatchesReference(long seed, int rows, int d) {
        try (Arena arena = Arena.ofShared()) {
            SplittableRandom rnd = new SplittableRandom(seed);
            Buf x = Twin.randn(arena, rnd, rows * d, 4);
            Buf dy = Twin.randn(arena, rnd, rows * d);
            // y and dx are overwritten: they start as NaN
            Buf yr = Twin.nans(arena, rows * d), yc = Twin.nans(arena, rows * d), dr = Twin.nans(arena, rows * d), dc = Twin.nans(arena, rows * d);
            Softmax.REF.forward(x, yr, rows, d);
            impl().forward(x, yc, rows, d);
            String c = "seed=" + seed + " rows=" + rows + " D=" + d;
            Twin.assertWritten(c + " y", yr, yc, 1e-6, 1e-5);
            Softmax.REF.backward(dy, yr, dr, rows, d);
            impl().backward(dy, yr, dc, rows, d);
            Twin.assertWritten(c + " dx", dr, dc, 1e-6, 1e-4);
        }
    }

    @Test
    void knownAnswerAndHugeLogits() {
        try (Arena arena = Arena.ofShared()) {
            Buf x = Buf.ofF64(arena, 0, Math.log(3));
            Buf y = x.like(arena);
            Softmax.REF.forward(x, y, 1, 2);
            assertEquals(0.25, y.get(0), 1e-15);
            assertEquals(0.75, y.get(1), 1e-15);
            Buf big = Buf.ofF32(arena, 1000f, 1000f, -1000f);
            Buf yb = big.like(arena);
            impl().forward(big, yb, 1, 3); // max-subtraction keeps exp finite
            assertEquals(0.5, yb.get(0), 1e-7);
            assertEquals(0.0, yb.get(2), 1e-30);
        }
    }
}
