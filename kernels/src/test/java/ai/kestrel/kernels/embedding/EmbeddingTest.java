package ai.kestrel.kernels.embedding;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.kestrel.kernels.Buf;
import ai.kestrel.kernels.Twin;
import ai.kestrel.kernels.quant.Codecs;
import ai.kestrel.kernels.quant.WeightFormat;
import ai.kestrel.kernels.quant.Weights;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class EmbeddingTest {
    /** The implementation under test against {@link Embedding#REF}; {@link EmbeddingCudaTest} runs the same cases on the GPU. */
    Embedding impl() {
        return Embedding.CPU;
    }

    static Stream<Arguments> shapes() {
        // (seed, format, V, D, M); ids repeat (M > V in places) to exercise the scatter-add
        // block formats take widths in whole blocks (Q8_0 32, NF4 64)
        return Stream.of(WeightFormat.F32, WeightFormat.BF16, WeightFormat.F16, WeightFormat.Q8_0, WeightFormat.NF4).flatMap(f -> Stream.of(
                Arguments.of(1L, f, 1, f.blockSize() > 1 ? f.blockSize() : 1, 3),
                Arguments.of(2L, f, 7, f.blockSize() > 1 ? 2 * f.blockSize() : 7, 33),
                Arguments.of(3L, f, 320, f.blockSize() > 1 ? 4096 : 4097, 5),
                Arguments.of(4L, f, 50, 1280, 70)));
    }

    static MemorySegment ids(Arena arena, SplittableRandom rnd, int m, int v) {
        MemorySegment s = arena.allocate(m * 4L, 4);
        for (int i = 0; i < m; i++) {
            s.setAtIndex(ValueLayout.JAVA_INT, i, rnd.nextInt(v));
        }
        return s;
    }

    @ParameterizedTest(name = "seed={0} {1} V={2} D={3} M={4}")
    @MethodSource("shapes")
    void cpuMatchesReference(long seed, WeightFormat f, int v, int d, int m) {
        try (Arena arena = Arena.ofShared()) {
            SplittableRandom rnd = new SplittableRandom(seed);
            Weights table = Codecs.encode(arena, Twin.normal(rnd, v * d, 1), v, d, f);
            MemorySegment ids = ids(arena, rnd, m, v);
            Buf outR = Twin.nans(arena, (long) m * d), outC = Twin.nans(arena, (long) m * d); // out is overwritten
            Embedding.REF.gather(table, ids, m, outR);
            impl().gather(table, ids, m, outC);
            String c = "seed=" + seed + " " + f + " V=" + v + " D=" + d + " M=" + m;
            Twin.assertWritten(c + " gather", outR, outC, 0, 0);
            Buf dOut = Twin.randn(arena, rnd, m * d);
            Buf dtR = Twin.randn(arena, rnd, v * d);
            Buf dtC = Buf.ofF32(arena, dtR.toFloatArray());
            Embedding.REF.scatterAdd(dOut, ids, m, dtR, v, d);
            impl().scatterAdd(dOut, ids, m, dtC, v, d);
            Twin.assertClose(c + " scatterAdd", dtR, dtC, 1e-5, 1e-5);
        }
    }

    @Test
    void repeatedIdsAddUpAndBadIdsAreNamed() {
        try (Arena arena = Arena.ofShared()) {
            MemorySegment ids = arena.allocate(12, 4);
            ids.setAtIndex(ValueLayout.JAVA_INT, 0, 1);
            ids.setAtIndex(ValueLayout.JAVA_INT, 1, 1);
            ids.setAtIndex(ValueLayout.JAVA_INT, 2, 0);
            Buf d = Buf.ofF64(arena, 1, 2, 10, 20, 100, 200);
            Buf table = Buf.allocF64(arena, 4);
            Embedding.REF.scatterAdd(d, ids, 3, table, 2, 2);
            assertEquals(100, table.get(0));
            assertEquals(11, table.get(2));
            assertEquals(22, table.get(3));
            ids.setAtIndex(ValueLayout.JAVA_INT, 2, 7);
            Weights w = Weights.of(Buf.allocF32(arena, 4), 2, 2);
            var e = assertThrows(IllegalArgumentException.class, () -> impl().gather(w, ids, 3, Buf.allocF32(arena, 6)));
            assertTrue(e.getMessage().contains("token id 7 at position 2"), e.getMessage());
        }
    }
}
