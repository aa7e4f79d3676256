package ai.kestrel.kernels.norm;

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

class GatedRmsNormTest {
    /** The implementation under test against {@link GatedRmsNorm#REF}; {@link GatedRmsNormCudaTest} runs the same cases on the GPU. */
    GatedRmsNorm impl() {
        return GatedRmsNorm.CPU;
    }

    static Stream<Arguments> shapes() {
        // (seed, rows, D, G)
        return Stream.of(
                Arguments.of(1L, 3, 1, 1), Arguments.of(2L, 2, 7, 1), Arguments.of(3L, 5, 33, 1),
                Arguments.of(4L, 2, 4097, 1), Arguments.of(5L, 4, 66, 2), Arguments.of(6L, 3, 1536, 1),
                Arguments.of(7L, 2, 4096, 2), Arguments.of(8L, 6, 96, 3),
                // more than one chunk of dw's kept terms (GatedRmsNormCpu.TERMS floats), the last one partial
                Arguments.of(9L, 70, 4097, 1), Arguments.of(10L, 131, 2048, 2));
    }

    @ParameterizedTest(name = "seed={0} rows={1} D={2} G={3}")
    @MethodSource("shapes")
    void cpuMatchesReference(long seed, int rows, int d, int groups) {
        try (Arena arena = Arena.ofShared()) {
            SplittableRandom rnd = new SplittableRandom(seed);
            int n = rows * d;
            Buf x = Twin.randn(arena, rnd, n, 2.0);
            Buf z = Twin.randn(arena, rnd, n, 2.0);
            Buf w = Twin.randn(arena, rnd, d);
            Buf dy = Twin.randn(arena, rnd, n);
            // y and rstd overwritten: they start as NaN
            Buf yRef = Twin.nans(arena, n);
            Buf yCpu = Twin.nans(arena, n);
            Buf rRef = Twin.nans(arena, (long) rows * groups);
            Buf rCpu = Twin.nans(arena, (long) rows * groups);
            GatedRmsNorm.REF.forward(x, z, w, yRef, rRef, rows, d, groups, 1e-5f);
            impl().forward(x, z, w, yCpu, rCpu, rows, d, groups, 1e-5f);
            String c = "seed=" + seed + " rows=" + rows + " D=" + d + " G=" + groups;
            Twin.assertWritten(c + " y", yRef, yCpu, 1e-5, 1e-4);
            Twin.assertWritten(c + " rstd", rRef, rCpu, 1e-6, 1e-4);

            // dx, dz overwritten: they start as NaN; dw accumulated: it starts non-zero
            Buf dxRef = Twin.nans(arena, n), dxCpu = Twin.nans(arena, n), dzRef = Twin.nans(arena, n), dzCpu = Twin.nans(arena, n);
            Buf dwRef = Twin.randn(arena, rnd, d);
            Buf dwCpu = Buf.ofF32(arena, dwRef.toFloatArray());
            GatedRmsNorm.REF.backward(dy, x, z, w, rRef, dxRef, dzRef, dwRef, rows, d, groups);
            impl().backward(dy, x, z, w, rRef, dxCpu, dzCpu, dwCpu, rows, d, groups);
            Twin.assertWritten(c + " dx", dxRef, dxCpu, 1e-4, 1e-4);
            Twin.assertWritten(c + " dz", dzRef, dzCpu, 1e-4, 1e-4);
            Twin.assertClose(c + " dw", dwRef, dwCpu, 1e-4, 1e-4);
        }
    }

    @Test
    void withoutRstdAndPartialGradients() {
        // forward without rstd; backward with only dz, then only dx and dw
        try (Arena arena = Arena.ofShared()) {
            int rows = 3, d = 256, groups = 4;
            long seed = 98;
            SplittableRandom rnd = new SplittableRandom(seed);
            Buf x = Twin.randn(arena, rnd, rows * d, 2.0);
            Buf z = Twin.randn(arena, rnd, rows * d, 2.0);
            Buf w = Twin.randn(arena, rnd, d);
            Buf dy = Twin.randn(arena, rnd, rows * d);
            Buf yRef = x.like(arena);
            Buf rRef = Buf.allocF32(arena, (long) rows * groups);
            GatedRmsNorm.REF.forward(x, z, w, yRef, rRef, rows, d, groups, 1e-6f);
            Buf dxRef = x.like(arena), dzRef = x.like(arena);
            Buf dwRef = Buf.allocF32(arena, d);
            GatedRmsNorm.REF.backward(dy, x, z, w, rRef, dxRef, dzRef, dwRef, rows, d, groups);

            String ctx = "seed=" + seed + " rows=" + rows + " D=" + d + " G=" + groups;
            Buf y = x.like(arena);
            impl().forward(x, z, w, y, null, rows, d, groups, 1e-6f);
            Twin.assertClose(ctx + " y", yRef, y, 1e-5, 1e-4);
            Buf dx = x.like(arena), dz = x.like(arena);
            Buf dw = Buf.allocF32(arena, d);
            impl().backward(dy, x, z, w, rRef, null, dz, null, rows, d, groups);
            impl().backward(dy, x, z, w, rRef, dx, null, dw, rows, d, groups);
            Twin.assertClose(ctx + " dx", dxRef, dx, 1e-4, 1e-4);
            Twin.assertClose(ctx + " dz", dzRef, dz, 1e-4, 1e-4);
            Twin.assertClose(ctx + " dw", dwRef, dw, 1e-4, 1e-4);
            // dw alone, accumulated onto what dw holds
            impl().backward(dy, x, z, w, rRef, null, null, dw, rows, d, groups);
            Buf dw2 = Buf.allocF32(arena, d);
            for (int c = 0; c < d; c++) {
                dw2.set(c, 2 * dwRef.get(c));
            }
            Twin.assertClose(ctx + " dw twice", dw2, dw, 1e-4, 1e-4);
        }
    }

    @Test
    void knownAnswer() {
        // one group of two: g = x * silu(z); with z = 0 the gate is 0 and y = 0 (eps keeps it finite)
        try (Arena arena = Arena.ofConfined()) {
            Buf x = Buf.ofF64(arena, 2, -3);
            Buf z = Buf.ofF64(arena, 1, 2);
            Buf w = Buf.ofF64(arena, 1, 1);
            Buf y = x.like(arena);
            GatedRmsNorm.REF.forward(x, z, w, y, null, 1, 2, 1, 0f);
            double g0 = 2 * 1 / (1 + Math.exp(-1));
            double g1 = -3 * 2 / (1 + Math.exp(-2));
            double rms = Math.sqrt((g0 * g0 + g1 * g1) / 2);
            assertEquals(g0 / rms, y.get(0), 1e-15);
            assertEquals(g1 / rms, y.get(1), 1e-15);
        }
    }
}
