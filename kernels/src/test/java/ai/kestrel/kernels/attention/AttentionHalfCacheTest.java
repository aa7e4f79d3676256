package ai.kestrel.kernels.attention;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import ai.kestrel.kernels.Buf;
import ai.kestrel.kernels.Twin;
import ai.kestrel.kernels.attention.Attention.Dims;
import java.lang.foreign.Arena;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** Attention over a binary16 KV cache: the CPU kernel against the reference reading the same half values. */
class AttentionHalfCacheTest {
    /** Decode rows across the kernel's key tiles (128 keys), prompt chunks after a cache, widths no kernel vectorises. */
    static Stream<Arguments> shapes() {
        int t = AttentionCpu.KEY_TILE;
        return Stream.of(
                Arguments.of(1L, new Dims(1, 1, 1, 8, 6, 2, 128)),
                Arguments.of(2L, new Dims(2, 1, t - 1, t + 4, 6, 2, 128)),
                Arguments.of(3L, new Dims(1, 1, t, t, 6, 2, 128)),
                Arguments.of(4L, new Dims(2, 1, t + 1, 2 * t, 6, 2, 128)),
                Arguments.of(5L, new Dims(1, 1, 3 * t + 37, 3 * t + 50, 6, 2, 128)),
                Arguments.of(6L, new Dims(2, 3, 300, 320, 8, 2, 64)),   // three rows: the last keys of each differ
                Arguments.of(7L, new Dims(1, 1, 200, 256, 2, 2, 16)),   // one query head per KV head
                Arguments.of(8L, new Dims(1, 2, 150, 160, 10, 2, 32)),  // five per KV head
                Arguments.of(9L, new Dims(2, 5, 40, 48, 4, 2, 128)),    // a prompt chunk after a cache
                Arguments.of(10L, new Dims(1, 70, 300, 320, 6, 2, 128)),
                Arguments.of(11L, new Dims(2, 1, 150, 160, 4, 2, 7)),   // a width no vector kernel takes
                Arguments.of(12L, new Dims(1, 6, 20, 30, 3, 1, 12)));
    }

    @ParameterizedTest(name = "seed={0} {1}")
    @MethodSource("shapes")
    void cpuMatchesReference(long seed, Dims m) {
        try (Arena arena = Arena.ofShared()) {
            AttentionTest.forwardMatches(Attention.CPU, arena, seed, m, true, 1);
        }
    }

    /** Two disjoint sets of keys, merged by their log-sum-exps, give the softmax over their union. */
    @Test
    void mergedTilesEqualOneSoftmax() {
        long seed = 5;
        SplittableRandom rnd = new SplittableRandom(seed);
        int n = 9, p = 5;
        String ctx = "seed=" + seed + " keys=" + n + " (tiles of 4 and " + (n - 4) + ") p=" + p;
        float[] s = Twin.normal(rnd, n, 2);
        float[][] v = new float[n][];
        for (int j = 0; j < n; j++) {
            v[j] = Twin.normal(rnd, p, 1);
        }
        float[][] acc = {softmaxOut(s, v, 0, 4, p)};
        float[] lse = {lse(s, 0, 4)};
        float[][] part = {softmaxOut(s, v, 4, n, p)};
        AttentionCpu.mergeSoftmax(acc, lse, part, new float[] {lse(s, 4, n)});
        float[] all = softmaxOut(s, v, 0, n, p);
        for (int c = 0; c < p; c++) {
            assertEquals(all[c], acc[0][c], 1e-6, ctx + " column " + c);
        }
        assertEquals(lse(s, 0, n), lse[0], 1e-6, ctx + " log-sum-exp");
    }

    private static float lse(float[] s, int from, int to) {
        double sum = 0;
        for (int j = from; j < to; j++) {
            sum += Math.exp(s[j]);
        }
        return (float) Math.log(sum);
    }

    private static float[] softmaxOut(float[] s, float[][] v, int from, int to, int p) {
        float l = lse(s, from, to);
        float[] o = new float[p];
        for (int j = from; j < to; j++) {
            for (int c = 0; c < p; c++) {
                o[c] += (float) Math.exp(s[j] - l) * v[j][c];
            }
        }
        return o;
    }

    @Test
    void keysAndValuesMustShareTheirType() {
        try (Arena arena = Arena.ofShared()) {
            Dims m = new Dims(1, 1, 4, 4, 2, 1, 16);
            SplittableRandom rnd = new SplittableRandom(3);
            Buf q = Twin.randn(arena, rnd, 32);
            Buf k = AttentionTest.toHalf(arena, Twin.randn(arena, rnd, 64));
            Buf v = Twin.randn(arena, rnd, 64);
            var e = assertThrows(IllegalArgumentException.class, () -> Attention.CPU.forward(q, k, v, Buf.allocF32(arena, 32), null, m, 0.25));
            assertEquals("v: keys and values must both be float16 or both float32", e.getMessage());
        }
    }
}
