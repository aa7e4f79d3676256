package ai.kestrel.kernels.elementwise;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.kestrel.kernels.Buf;
import ai.kestrel.kernels.Twin;
import java.lang.foreign.Arena;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class ElementwiseTest {
    /** The implementation under test against {@link Elementwise#REF}; {@link ElementwiseCudaTest} runs the same cases on the GPU. */
    Elementwise impl() {
        return Elementwise.CPU;
    }

    static Stream<Arguments> shapes() {
        // (seed, rows, cols): odd widths, and one big enough to be split across threads
        return Stream.of(
                Arguments.of(1L, 1, 1), Arguments.of(2L, 3, 7), Arguments.of(3L, 5, 33), Arguments.of(4L, 2, 4097),
                Arguments.of(5L, 70, 1031), Arguments.of(6L, 1, 100_003));
    }

    @ParameterizedTest(name = "seed={0} rows={1} cols={2}")
    @MethodSource("shapes")
    void binaryAndReductionsMatchReference(long seed, int rows, int cols) {
        try (Arena arena = Arena.ofShared()) {
            SplittableRandom rnd = new SplittableRandom(seed);
            long n = (long) rows * cols;
            Buf a = Twin.randn(arena, rnd, (int) n);
            for (Broadcast bc : Broadcast.values()) {
                Buf b = Twin.randn(arena, rnd, (int) bc.bLength(rows, cols));
                String c = "seed=" + seed + " (" + rows + "," + cols + ") " + bc;
                Buf r1 = a.like(arena), c1 = a.like(arena);
                Elementwise.REF.add(a, b, r1, rows, cols, bc);
                impl().add(a, b, c1, rows, cols, bc);
                Twin.assertClose(c + " add", r1, c1, 1e-6, 1e-6);
                Elementwise.REF.mul(a, b, r1, rows, cols, bc);
                impl().mul(a, b, c1, rows, cols, bc);
                Twin.assertClose(c + " mul", r1, c1, 1e-6, 1e-6);
            }
            for (boolean acc : new boolean[] {false, true}) {
                Buf sr = Twin.randn(arena, rnd, cols);
                Buf sc = Buf.ofF32(arena, sr.toFloatArray());
                Elementwise.REF.sumRows(a, sr, rows, cols, acc);
                impl().sumRows(a, sc, rows, cols, acc);
                Twin.assertClose("seed=" + seed + " (" + rows + "," + cols + ") sumRows acc=" + acc, sr, sc, 1e-4, 1e-5);
                Buf tr = Twin.randn(arena, rnd, rows);
                Buf tc = Buf.ofF32(arena, tr.toFloatArray());
                Elementwise.REF.sumCols(a, tr, rows, cols, acc);
                impl().sumCols(a, tc, rows, cols, acc);
                Twin.assertClose("seed=" + seed + " (" + rows + "," + cols + ") sumCols acc=" + acc, tr, tc, 1e-3, 1e-5);
            }
        }
    }

    @ParameterizedTest(name = "seed={0} rows={1} cols={2}")
    @MethodSource("shapes")
    void unaryMapsMatchReference(long seed, int rows, int cols) {
        try (Arena arena = Arena.ofShared()) {
            SplittableRandom rnd = new SplittableRandom(seed + 100);
            int n = rows * cols;
            // values spread over [-30, 30) so softplus's threshold at 20 is crossed both ways
            Buf x = Buf.ofF32(arena, Twin.uniform(rnd, n, -30, 30));
            Buf dy = Twin.randn(arena, rnd, n);
            String c = "seed=" + seed + " n=" + n;
            Buf r = x.like(arena), k = x.like(arena);
            Elementwise.REF.silu(x, r, n);
            impl().silu(x, k, n);
            Twin.assertClose(c + " silu", r, k, 1e-5, 1e-5);
            Elementwise.REF.siluBackward(dy, x, r, n);
            impl().siluBackward(dy, x, k, n);
            Twin.assertClose(c + " silu'", r, k, 1e-5, 1e-5);
            Elementwise.REF.softplus(x, r, n);
            impl().softplus(x, k, n);
            Twin.assertClose(c + " softplus", r, k, 1e-5, 1e-5);
            Elementwise.REF.softplusBackward(dy, x, r, n);
            impl().softplusBackward(dy, x, k, n);
            Twin.assertClose(c + " softplus'", r, k, 1e-6, 1e-5);
            Buf small = Buf.ofF32(arena, Twin.uniform(rnd, n, -10, 10));
            Elementwise.REF.exp(small, r, n);
            impl().exp(small, k, n);
            Twin.assertClose(c + " exp", r, k, 1e-6, 2e-6);
            Elementwise.REF.scale(x, -0.37, r, n);
            impl().scale(x, -0.37, k, n);
            Twin.assertClose(c + " scale", r, k, 1e-6, 1e-6);
            Buf yr = Twin.randn(arena, rnd, n);
            Buf yk = Buf.ofF32(arena, yr.toFloatArray());
            Elementwise.REF.axpy(1.7, x, yr, n);
            impl().axpy(1.7, x, yk, n);
            Twin.assertClose(c + " axpy", yr, yk, 1e-5, 1e-6);
        }
    }

    /**
     * The dropout mask bit for bit as the reference draws it, element by element: odd sizes, sizes around the
     * parallel chunk (where each chunk starts its generator states from its first index), probabilities from 0 to
     * nearly 1; and about a fraction p of the elements dropped.
     */
    @Test
    void dropoutMatchesReferenceBitForBit() {
        SplittableRandom rnd = new SplittableRandom(77);
        int g = ElementwiseCpu.GRAIN;
        int[] sizes = {1, 3, 7, 33, 4097, g - 1, g, g + 1, 2 * g + 5, 100_003};
        double[] ps = {0, 1e-9, 0.1, 0.5, 0.999, rnd.nextDouble()};
        try (Arena arena = Arena.ofShared()) {
            for (int n : sizes) {
                for (double p : ps) {
                    long seed = rnd.nextLong();
                    Buf x = Twin.randn(arena, rnd, n);
                    float keep = (float) (1 / (1 - p));
                    Buf r = x.like(arena), k = x.like(arena);
                    Elementwise.REF.dropout(x, r, n, p, keep, seed);
                    impl().dropout(x, k, n, p, keep, seed);
                    long dropped = 0;
                    for (int i = 0; i < n; i++) {
                        float want = (float) r.get(i), got = (float) k.get(i);
                        String at = "n " + n + ", p " + p + ", seed " + seed + ", element " + i + ": " + want + " vs " + got;
                        // the GPU multiplies by a mask, so a dropped negative element is -0 there
                        assertTrue(want == got, at);
                        if (impl() == Elementwise.CPU) {
                            assertEquals(Float.floatToRawIntBits(want), Float.floatToRawIntBits(got), at);
                        }
                        dropped += got == 0 ? 1 : 0;
                    }
                    if (n == 100_003) {
                        // binomial: standard deviation at most ~158
                        assertEquals(p * n, dropped, 800, "elements dropped at p " + p);
                    }
                }
            }
        }
    }

    @Test
    void knownAnswers() {
        try (Arena arena = Arena.ofConfined()) {
            Buf x = Buf.ofF64(arena, 0, 1, -1, 25);
            Buf y = x.like(arena);
            Elementwise.REF.softplus(x, y, 4);
            assertEquals(Math.log(2), y.get(0), 1e-15);
            assertEquals(Math.log1p(Math.E), y.get(1), 1e-15);
            assertEquals(25, y.get(3), 0);
            Elementwise.REF.silu(x, y, 4);
            assertEquals(1 / (1 + Math.exp(-1)), y.get(1), 1e-15);
            Buf m = Buf.ofF64(arena, 1, 2, 3, 4, 5, 6);
            Buf cs = Buf.allocF64(arena, 3);
            Elementwise.REF.sumRows(m, cs, 2, 3, false);
            assertEquals(5, cs.get(0));
            assertEquals(9, cs.get(2));
        }
    }
}
