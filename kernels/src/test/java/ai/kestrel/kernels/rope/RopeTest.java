package ai.kestrel.kernels.rope;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import ai.kestrel.kernels.Buf;
import ai.kestrel.kernels.Twin;
import java.lang.foreign.Arena;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class RopeTest {
    /** The implementation under test against {@link Rope#REF}; {@link RopeCudaTest} runs the same cases on the GPU. */
    Rope impl() {
        return Rope.CPU;
    }

    /** (seed, B, T, H, P, start, theta): Falcon-H1's theta 1e11 and a plain 1e4, decode offsets. */
    static Stream<Arguments> shapes() {
        return Stream.of(Arguments.of(1L, 1, 1, 1, 2, 0, 1e4), Arguments.of(2L, 2, 7, 3, 14, 0, 1e11),
                Arguments.of(3L, 1, 33, 2, 66, 5, 1e4), Arguments.of(4L, 1, 3, 6, 128, 4093, 1e11),
                Arguments.of(5L, 2, 5, 1, 8194, 1, 1e4), Arguments.of(6L, 1, 3000, 1, 16, 120000, 1e4));
    }

    @ParameterizedTest(name = "seed={0} B={1} T={2} H={3} P={4} start={5}")
    @MethodSource("shapes")
    void cpuMatchesReference(long seed, int b, int t, int h, int p, int start, double theta) {
        try (Arena arena = Arena.ofShared()) {
            SplittableRandom rnd = new SplittableRandom(seed);
            int n = b * t * h * p;
            Buf x = Twin.randn(arena, rnd, n);
            // y and dx are overwritten: they start as NaN
            Buf yr = Twin.nans(arena, n), yc = Twin.nans(arena, n), dr = Twin.nans(arena, n), dc = Twin.nans(arena, n);
            Rope.REF.forward(x, yr, b, t, h, p, start, theta);
            impl().forward(x, yc, b, t, h, p, start, theta);
            String c = "seed=" + seed + " B=" + b + " T=" + t + " H=" + h + " P=" + p + " start=" + start;
            Twin.assertWritten(c + " y", yr, yc, 2e-6, 1e-5);
            Rope.REF.backward(x, dr, b, t, h, p, start, theta);
            impl().backward(x, dc, b, t, h, p, start, theta);
            Twin.assertWritten(c + " dx", dr, dc, 2e-6, 1e-5);
            // backward is the inverse rotation: it undoes forward
            impl().backward(yc, dc, b, t, h, p, start, theta);
            Twin.assertClose(c + " inverse", x, dc, 1e-5, 1e-5);
        }
    }

    @Test
    void knownAnswerAndInPlace() {
        try (Arena arena = Arena.ofShared()) {
            // P = 2: one pair rotated by pos * theta^0 = pos radians
            Buf x = Buf.ofF64(arena, 1, 0, 1, 0);
            Rope.REF.forward(x, x, 1, 2, 1, 2, 3, 1e4);
            assertEquals(Math.cos(3), x.get(0), 1e-15);
            assertEquals(Math.sin(3), x.get(1), 1e-15);
            assertEquals(Math.cos(4), x.get(2), 1e-15);
            assertEquals(Math.sin(4), x.get(3), 1e-15);
            assertThrows(IllegalArgumentException.class, () -> impl().forward(Buf.allocF32(arena, 3), Buf.allocF32(arena, 3), 1, 1, 1, 3, 0, 1e4));
        }
    }
}
