package ai.kestrel.kernels.norm;

import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.kestrel.kernels.Buf;
import ai.kestrel.kernels.Twin;
import java.lang.foreign.Arena;
import java.util.SplittableRandom;
import java.util.stream.IntStream;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class RmsNormTest {
    /** The implementation under test against {@link RmsNorm#REF}; {@link RmsNormCudaTest} runs the same cases on the GPU. */
    RmsNorm impl() {
        return RmsNorm.CPU;
    }

    static Stream<Arguments> shapes() {
        // (seed, rows, D): the odd widths, and the Falcon-H1 widths
        return Stream.concat(
                IntStream.of(Twin.ODD_WIDTHS).mapToObj(d -> Arguments.of(11L * d, 1 + d % 5, d)),
                Stream.of(Arguments.of(3L, 9, 1280), Arguments.of(4L, 3, 2048), Arguments.of(5L, 17, 64)));
    }

    @ParameterizedTest(name = "seed={0} rows={1} D={2}")
    @MethodSource("shapes")
    void cpuMatchesReference(long seed, int rows, int d) {
        try (Arena arena = Arena.ofShared()) {
            SplittableRandom rnd = new SplittableRandom(seed);
            Buf x = Twin.randn(arena, rnd, rows * d, 3.0);
            Buf w = Twin.randn(arena, rnd, d);
            Buf dy = Twin.randn(arena, rnd, rows * d);
            Buf yRef = Twin.nans(arena, rows * d); // y and rstd are overwritten
            Buf yCpu = Twin.nans(arena, rows * d);
            Buf rRef = Twin.nans(arena, rows);
            Buf rCpu = Twin.nans(arena, rows);
            RmsNorm.REF.forward(x, w, yRef, rRef, rows, d, 1e-5f);
            impl().forward(x, w, yCpu, rCpu, rows, d, 1e-5f);
            String c = "seed=" + seed + " rows=" + rows + " D=" + d;
            Twin.assertWritten(c + " y", yRef, yCpu, 1e-5, 1e-5);
            Twin.assertWritten(c + " rstd", rRef, rCpu, 1e-6, 1e-5);

            Buf dxRef = Twin.nans(arena, rows * d); // dx is overwritten
            Buf dxCpu = Twin.nans(arena, rows * d);
            Buf dwRef = Twin.randn(arena, rnd, d); // dw accumulates: start from the same non-zero values
            Buf dwCpu = Buf.ofF32(arena, dwRef.toFloatArray());
            RmsNorm.REF.backward(dy, x, w, rRef, dxRef, dwRef, rows, d);
            impl().backward(dy, x, w, rRef, dxCpu, dwCpu, rows, d);
            Twin.assertWritten(c + " dx", dxRef, dxCpu, 1e-5, 1e-4);
            Twin.assertClose(c + " dw", dwRef, dwCpu, 1e-4, 1e-4);
        }
    }

    @Test
    void inPlaceWithoutRstdAndPartialGradients() {
        // y written over x, rstd not asked for; backward with only dx, then only dw
        try (Arena arena = Arena.ofShared()) {
            int rows = 5, d = 300;
            long seed = 99;
            SplittableRandom rnd = new SplittableRandom(seed);
            Buf x = Twin.randn(arena, rnd, rows * d, 2.0);
            Buf w = Twin.randn(arena, rnd, d);
            Buf dy = Twin.randn(arena, rnd, rows * d);
            Buf yRef = x.like(arena);
            Buf rRef = Buf.allocF32(arena, rows);
            RmsNorm.REF.forward(x, w, yRef, rRef, rows, d, 1e-6f);
            Buf dxRef = x.like(arena);
            Buf dwRef = Buf.allocF32(arena, d);
            RmsNorm.REF.backward(dy, x, w, rRef, dxRef, dwRef, rows, d);

            String c = "seed=" + seed + " rows=" + rows + " D=" + d;
            Buf dx = x.like(arena);
            Buf dw = Buf.allocF32(arena, d);
            impl().backward(dy, x, w, rRef, dx, null, rows, d);
            impl().backward(dy, x, w, rRef, null, dw, rows, d);
            Twin.assertClose(c + " dx alone", dxRef, dx, 1e-5, 1e-4);
            Twin.assertClose(c + " dw alone", dwRef, dw, 1e-4, 1e-4);
            Buf xy = Buf.ofF32(arena, x.toFloatArray());
            impl().forward(xy, w, xy, null, rows, d, 1e-6f);
            Twin.assertClose(c + " in place", yRef, xy, 1e-5, 1e-5);
        }
    }

    @Test
    void knownAnswer() {
        // x = (1, 2, 3, 4): mean(x^2) = 7.5, so y = w * x / sqrt(7.5 + eps)
        try (Arena arena = Arena.ofConfined()) {
            Buf x = Buf.ofF64(arena, 1, 2, 3, 4);
            Buf w = Buf.ofF64(arena, 1, 0.5, 2, -1);
            Buf y = x.like(arena);
            RmsNorm.REF.forward(x, w, y, null, 1, 4, 0f);
            double s = Math.sqrt(7.5);
            double[] expect = {1 / s, 1 / s, 6 / s, -4 / s};
            for (int i = 0; i < 4; i++) {
                assertEquals(expect[i], y.get(i), 1e-15);
            }
        }
    }
}
