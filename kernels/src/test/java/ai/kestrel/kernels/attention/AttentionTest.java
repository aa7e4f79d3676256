package ai.kestrel.kernels.attention;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

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

class AttentionTest {
    /** The implementation the twin cases check against the reference. */
    Attention impl() {
        return Attention.CPU;
    }

    /** Factor on the twin cases' tolerances (float32 kernels that sum in another order may need more). */
    double tolerance() {
        return 1;
    }

    /** Whether {@link #impl}'s backward refuses these dimensions with a clear error (GPU tiles in shared memory). */
    boolean refusesBackward(Dims m) {
        return false;
    }

    /** (seed, dims): prompts, decode steps and chunks against caches with spare capacity. */
    static Stream<Arguments> shapes() {
        return Stream.of(
                Arguments.of(1L, Dims.causal(1, 1, 1, 1, 1)),
                Arguments.of(2L, Dims.causal(2, 7, 4, 2, 7)),
                Arguments.of(3L, Dims.causal(1, 33, 6, 2, 8)),
                Arguments.of(4L, Dims.causal(1, 70, 8, 8, 33)),
                Arguments.of(5L, Dims.causal(2, 20, 4, 1, 64)),
                Arguments.of(6L, new Dims(1, 1, 70, 96, 6, 2, 16)),     // decode against a cache
                Arguments.of(7L, new Dims(2, 5, 33, 40, 4, 2, 7)),      // a chunk of prompt after a cache
                Arguments.of(8L, Dims.causal(1, 130, 2, 1, 16)),        // crosses the key block size
                // the blocked prompt path (width a multiple of the vector length): rows not a multiple of four,
                // a chunk after a cache, Falcon-H1's head width
                Arguments.of(9L, Dims.causal(2, 23, 4, 2, 16)),
                Arguments.of(10L, new Dims(2, 6, 37, 40, 4, 2, 32)),
                Arguments.of(11L, Dims.causal(1, 67, 6, 2, 128)),
                // the three-pass decode rows (fewer than four query rows, width a multiple of the vector length):
                // Falcon-H1's heads against a long cache (keys not a multiple of four), and three rows after a cache
                Arguments.of(12L, new Dims(2, 1, 519, 544, 6, 2, 128)),
                Arguments.of(13L, new Dims(2, 3, 41, 48, 4, 2, 32)),
                // a long chunk after a cache in Falcon-H1's heads: query tiles that start past key 0 and cross tiles
                Arguments.of(14L, new Dims(1, 70, 100, 128, 6, 2, 128)),
                // decode rows in Falcon-H1's other groupings (1, 4, 5 and 6 query heads per KV head), widths 64 and
                // 128, keys not a multiple of 16
                Arguments.of(15L, new Dims(1, 1, 20, 32, 2, 2, 128)),
                Arguments.of(16L, new Dims(1, 1, 37, 40, 8, 2, 64)),
                Arguments.of(17L, new Dims(1, 1, 100, 128, 10, 2, 128)),
                Arguments.of(18L, new Dims(2, 1, 33, 48, 12, 2, 64)),
                // decode rows over tiles of keys (256 and more): three rows whose last tiles differ, five query heads
                // per KV head
                Arguments.of(19L, new Dims(2, 3, 385, 400, 10, 2, 64)),
                Arguments.of(20L, new Dims(1, 1, 256, 256, 6, 2, 128)),
                // the blocked prompt paths across blocks of 128 keys (and, backward, of 128 query rows): three query
                // heads per KV head over 301 rows, and a chunk of 150 rows after a cache of 60 in batch 2
                Arguments.of(21L, Dims.causal(1, 301, 6, 2, 32)),
                Arguments.of(22L, new Dims(2, 150, 210, 224, 4, 2, 16)),
                // a head 4097 wide (a power of two plus one): a prompt, and a decode row against a cache
                Arguments.of(23L, Dims.causal(1, 5, 2, 1, 4097)),
                Arguments.of(24L, new Dims(1, 1, 9, 16, 2, 1, 4097)));
    }

    /** A forward pass of the reference and of an implementation on the same random data, and its outputs. */
    record Forward(Buf q, Buf k, Buf v, Buf or, Buf lr, double scale) {
    }

    /**
     * Random q, k and v for {@code m} (keys and values in binary16 when {@code half}), scores of O(1-3): softmax
     * neither uniform nor one-hot. Runs the reference and {@code impl} and asserts their outputs and log-sum-exps
     * agree within {@code f} times the float32 tolerances.
     */
    static Forward forwardMatches(Attention impl, Arena arena, long seed, Dims m, boolean half, double f) {
        SplittableRandom rnd = new SplittableRandom(seed);
        int nq = m.b() * m.tq() * m.h() * m.p();
        int nk = m.b() * m.cap() * m.kv() * m.p();
        double scale = 1 / Math.sqrt(m.p());
        Buf q = Twin.randn(arena, rnd, nq, 1.2);
        Buf k = Twin.randn(arena, rnd, nk, 1.2);
        Buf v = Twin.randn(arena, rnd, nk);
        if (half) {
            k = toHalf(arena, k);
            v = toHalf(arena, v);
        }
        // o and lse overwritten: they start as NaN
        Buf or = Twin.nans(arena, nq), oc = Twin.nans(arena, nq);
        Buf lr = Twin.nans(arena, (long) m.b() * m.h() * m.tq()), lc = Twin.nans(arena, (long) m.b() * m.h() * m.tq());
        Attention.REF.forward(q, k, v, or, lr, m, scale);
        impl.forward(q, k, v, oc, lc, m, scale);
        String c = "seed=" + seed + " " + m + (half ? " binary16 keys and values" : "");
        Twin.assertWritten(c + " o", or, oc, 1e-5 * f, 1e-4 * f);
        Twin.assertWritten(c + " lse", lr, lc, 1e-5 * f, 1e-5 * f);
        return new Forward(q, k, v, or, lr, scale);
    }

    /** {@code b} rounded to binary16. */
    static Buf toHalf(Arena arena, Buf b) {
        Buf h = Buf.f16(arena.allocate(2 * b.length(), 64));
        for (long i = 0; i < b.length(); i++) {
            h.set(i, b.get(i));
        }
        return h;
    }

    @ParameterizedTest(name = "seed={0} {1}")
    @MethodSource("shapes")
    void cpuMatchesReference(long seed, Dims m) {
        try (Arena arena = Arena.ofShared()) {
            double f = tolerance();
            Forward fw = forwardMatches(impl(), arena, seed, m, false, f);
            Buf q = fw.q(), k = fw.k(), v = fw.v(), or = fw.or(), lr = fw.lr();
            double scale = fw.scale();
            SplittableRandom rnd = new SplittableRandom(seed + 1000);
            int nq = m.b() * m.tq() * m.h() * m.p();
            int nk = m.b() * m.cap() * m.kv() * m.p();
            String c = "seed=" + seed + " " + m;
            Buf dO = Twin.randn(arena, rnd, nq);
            if (refusesBackward(m)) {
                IllegalArgumentException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                        () -> impl().backward(dO, q, k, v, or, lr, Buf.allocF32(arena, nq), null, null, m, scale), c);
                org.junit.jupiter.api.Assertions.assertTrue(e.getMessage().contains("shared memory"), c + ": " + e.getMessage());
                return;
            }
            Buf dqr = Twin.nans(arena, nq), dqc = Twin.nans(arena, nq);
            Buf dkr = keyGrad(arena, m), dkc = keyGrad(arena, m), dvr = keyGrad(arena, m), dvc = keyGrad(arena, m);
            Attention.REF.backward(dO, q, k, v, or, lr, dqr, dkr, dvr, m, scale);
            impl().backward(dO, q, k, v, or, lr, dqc, dkc, dvc, m, scale);
            assertKeptPastTk(c + " reference dk", dkr, m);
            assertKeptPastTk(c + " reference dv", dvr, m);
            assertKeptPastTk(c + " dk", dkc, m);
            assertKeptPastTk(c + " dv", dvc, m);
            Twin.assertWritten(c + " dq", dqr, dqc, 1e-4 * f, 1e-4 * f);
            Twin.assertWritten(c + " dk", dkr, dkc, 1e-4 * f, 1e-4 * f);
            Twin.assertWritten(c + " dv", dvr, dvc, 1e-4 * f, 1e-4 * f);
        }
    }

    /** What dk and dv hold in key rows past {@code Tk} before backward, which must leave those rows as they are. */
    static final float KEPT = -1234.5f;

    /**
     * A dk or dv buffer {@code (B, cap, KV, P)} for backward: NaN in the first {@code Tk} rows of each batch, which it
     * must overwrite, and {@link #KEPT} in the rows past them.
     */
    static Buf keyGrad(Arena arena, Dims m) {
        Buf g = Twin.nans(arena, (long) m.b() * m.cap() * m.kv() * m.p());
        for (int bb = 0; bb < m.b(); bb++) {
            g.slice(m.kOff(bb, m.tk(), 0), (long) (m.cap() - m.tk()) * m.kv() * m.p()).fill(KEPT);
        }
        return g;
    }

    /** Asserts backward left the rows past {@code Tk} of a {@link #keyGrad} buffer as they were. */
    static void assertKeptPastTk(String what, Buf g, Dims m) {
        for (int bb = 0; bb < m.b(); bb++) {
            for (int j = m.tk(); j < m.cap(); j++) {
                for (int e = 0; e < m.kv() * m.p(); e++) {
                    long i = m.kOff(bb, j, 0) + e;
                    if (g.get(i) != KEPT) {
                        fail(String.format(
                                "%s: batch %d key row %d (past Tk = %d) element %d, index %d: %.9g instead of the %s it held before backward",
                                what, bb, j, m.tk(), e, i, g.get(i), KEPT));
                    }
                }
            }
        }
    }

    /** A prompt of T rows gives what T single-row decode steps against a growing cache give. */
    @Test
    void prefillEqualsDecodeSteps() {
        int t = 12, h = 6, kv = 2, p = 16, cap = 20;
        try (Arena arena = Arena.ofShared()) {
            SplittableRandom rnd = new SplittableRandom(9);
            Buf q = Twin.randn(arena, rnd, t * h * p), kc = Buf.allocF32(arena, (long) cap * kv * p), vc = Buf.allocF32(arena, (long) cap * kv * p);
            Buf k = Twin.randn(arena, rnd, t * kv * p), v = Twin.randn(arena, rnd, t * kv * p);
            Buf full = Buf.allocF32(arena, (long) t * h * p);
            impl().forward(q, k, v, full, null, Dims.causal(1, t, h, kv, p), 0.25);
            Buf o1 = Buf.allocF32(arena, (long) h * p);
            for (int i = 0; i < t; i++) {
                for (int e = 0; e < kv * p; e++) { // append row i to the cache
                    kc.set((long) i * kv * p + e, k.get((long) i * kv * p + e));
                    vc.set((long) i * kv * p + e, v.get((long) i * kv * p + e));
                }
                impl().forward(q.slice((long) i * h * p, (long) h * p), kc, vc, o1, null, new Dims(1, 1, i + 1, cap, h, kv, p), 0.25);
                Twin.assertClose("seed=9 T=" + t + " H=" + h + " KV=" + kv + " P=" + p + " decode row " + i + " o (H, P)",
                        full.slice((long) i * h * p, (long) h * p), o1, 1e-5 * tolerance(), 0);
            }
        }
    }

    @Test
    void knownAnswer() {
        // two keys, equal scores: the second row averages the two values; the first sees only its own
        try (Arena arena = Arena.ofShared()) {
            Buf q = Buf.ofF64(arena, 1, 1);
            Buf k = Buf.ofF64(arena, 2, 2);
            Buf v = Buf.ofF64(arena, 10, 20);
            Buf o = Buf.allocF64(arena, 2);
            Buf lse = Buf.allocF64(arena, 2);
            Attention.REF.forward(q, k, v, o, lse, Dims.causal(1, 2, 1, 1, 1), 0.5);
            assertEquals(10, o.get(0), 1e-12);
            assertEquals(15, o.get(1), 1e-12);
            assertEquals(1 + Math.log(2), lse.get(1), 1e-12);
        }
    }
}
