package ai.kestrel.kernels.ssd;

import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.kestrel.kernels.Buf;
import ai.kestrel.kernels.Twin;
import ai.kestrel.kernels.ssd.SsdScan.Dims;
import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class SsdScanTest {
    /** The implementation the twin cases check against {@link SsdScan#REF}. */
    SsdScan impl() {
        return SsdScan.CPU;
    }

    /**
     * Whether {@link #impl} refuses these dimensions with a clear error instead of computing them (the GPU kernels
     * keep a block's rows of state in shared memory, so their state width is bounded); the twin cases then check
     * that refusal.
     */
    boolean refuses(Dims m) {
        return false;
    }

    /** Asserts that {@code call} fails with an {@link IllegalArgumentException} naming shared memory. */
    static void assertRefused(String what, Runnable call) {
        IllegalArgumentException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class, call::run, what);
        org.junit.jupiter.api.Assertions.assertTrue(e.getMessage().contains("shared memory"), what + ": " + e.getMessage());
    }

    /** Factor on the twin cases' tolerances (float32 implementations summing in another order may widen it). */
    double tolerance() {
        return 1;
    }

    record Inputs(Buf x, Buf dt, Buf dtBias, Buf a, Buf bm, Buf cm, Buf d, Buf s0) {
    }

    static Inputs inputs(Arena arena, SplittableRandom rnd, Dims m, boolean opt) {
        long bth = (long) m.b() * m.t() * m.h();
        float[] dt = Twin.uniform(rnd, (int) bth, -3, 1.5);
        for (int i = 0; i < dt.length; i += 9) {
            dt[i] = 20.5f + i % 2; // past softplus's threshold
        }
        // B, C scaled so the state stays O(1) over the sequence
        double bc = 1 / Math.sqrt(m.n());
        return new Inputs(Twin.randn(arena, rnd, (int) (bth * m.p())), Buf.ofF32(arena, dt),
                opt ? Twin.randn(arena, rnd, m.h(), 0.5) : null, Buf.ofF32(arena, Twin.uniform(rnd, m.h(), -1.2, -0.05)),
                Twin.randn(arena, rnd, m.b() * m.t() * m.g() * m.n(), bc), Twin.randn(arena, rnd, m.b() * m.t() * m.g() * m.n(), bc),
                opt ? Twin.randn(arena, rnd, m.h()) : null, opt ? Twin.randn(arena, rnd, m.b() * m.h() * m.p() * m.n()) : null);
    }

    /** (seed, dims, optional inputs): odd P and N, G > 1, T crossing chunk boundaries with a partial last chunk. */
    static Stream<Arguments> shapes() {
        List<Arguments> a = new ArrayList<>();
        a.add(Arguments.of(1L, new Dims(1, 1, 1, 1, 1, 1, 16), true));
        a.add(Arguments.of(2L, new Dims(2, 7, 2, 7, 1, 33, 4), false));
        a.add(Arguments.of(3L, new Dims(1, 33, 4, 16, 2, 16, 16), true));
        a.add(Arguments.of(4L, new Dims(1, 40, 6, 16, 1, 16, 16), true));
        a.add(Arguments.of(5L, new Dims(2, 19, 8, 5, 4, 7, 1), true));
        a.add(Arguments.of(6L, new Dims(1, 70, 2, 64, 1, 64, 64), false));
        // Falcon-H1 widths (P 64, N 256, chunk 128): several row blocks per head, two heads per group
        a.add(Arguments.of(7L, new Dims(1, 150, 4, 64, 2, 256, 128), true));
        // one dimension 4097 wide (a power of two plus one): the state width, then the head width
        a.add(Arguments.of(8L, new Dims(1, 9, 2, 3, 1, 4097, 4), true));
        a.add(Arguments.of(9L, new Dims(2, 6, 2, 4097, 2, 7, 4), false));
        return a.stream();
    }

    @ParameterizedTest(name = "seed={0} {1} opt={2}")
    @MethodSource("shapes")
    void matchesReference(long seed, Dims m, boolean opt) {
        try (Arena arena = Arena.ofShared()) {
            SplittableRandom rnd = new SplittableRandom(seed);
            Inputs in = inputs(arena, rnd, m, opt);
            String c = "seed=" + seed + " " + m;
            long ny = (long) m.b() * m.t() * m.h() * m.p();
            long ns = (long) m.b() * m.h() * m.p() * m.n();
            // y and the final state overwritten: they start as NaN
            Buf yr = Twin.nans(arena, ny), yc = Twin.nans(arena, ny);
            Buf sr = Twin.nans(arena, ns), sc = Twin.nans(arena, ns);
            if (refuses(m)) {
                long bt = (long) m.b() * m.t();
                assertRefused(c, () -> {
                    impl().forward(in.x, in.dt, in.dtBias, in.a, in.bm, in.cm, in.d, in.s0, yc, sc, m);
                    impl().backward(yc, in.x, in.dt, in.dtBias, in.a, in.bm, in.cm, in.d, in.s0, Buf.allocF32(arena, ny),
                            null, null, null, Buf.allocF32(arena, bt * m.g() * m.n()), null, null, null, m);
                });
                return;
            }
            SsdScan.REF.forward(in.x, in.dt, in.dtBias, in.a, in.bm, in.cm, in.d, in.s0, yr, sr, m);
            impl().forward(in.x, in.dt, in.dtBias, in.a, in.bm, in.cm, in.d, in.s0, yc, sc, m);
            Twin.assertWritten(c + " y", yr, yc, 2e-4 * tolerance(), 2e-4 * tolerance());
            Twin.assertWritten(c + " final state", sr, sc, 2e-4 * tolerance(), 2e-4 * tolerance());

            Buf dy = Twin.randn(arena, rnd, (int) ny);
            long bt = (long) m.b() * m.t();
            long bs = bt * m.g() * m.n();
            // dx, ddt, dB, dC, ds0 overwritten: they start as NaN; ddtBias, dA, dD accumulated: they start non-zero
            Buf[] r = {Twin.nans(arena, ny), Twin.nans(arena, bt * m.h()), Twin.randn(arena, rnd, m.h()), Twin.randn(arena, rnd, m.h()),
                Twin.nans(arena, bs), Twin.nans(arena, bs), Twin.randn(arena, rnd, m.h()), Twin.nans(arena, ns)};
            boolean[] overwritten = {true, true, false, false, true, true, false, true};
            Buf[] k = new Buf[r.length];
            for (int i = 0; i < r.length; i++) {
                k[i] = Buf.ofF32(arena, r[i].toFloatArray());
            }
            SsdScan.REF.backward(dy, in.x, in.dt, in.dtBias, in.a, in.bm, in.cm, in.d, in.s0, r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], m);
            impl().backward(dy, in.x, in.dt, in.dtBias, in.a, in.bm, in.cm, in.d, in.s0, k[0], k[1], k[2], k[3], k[4], k[5], k[6], k[7], m);
            String[] names = {"dx", "ddt", "ddtBias", "dA", "dB", "dC", "dD", "ds0"};
            for (int i = 0; i < r.length; i++) {
                // sums over many terms (dA, dD, dt_bias) carry float32 rounding: relative tolerance
                if (overwritten[i]) {
                    Twin.assertWritten(c + " " + names[i], r[i], k[i], 5e-4 * tolerance(), 5e-4 * tolerance());
                } else {
                    Twin.assertClose(c + " " + names[i], r[i], k[i], 5e-4 * tolerance(), 5e-4 * tolerance());
                }
            }
        }
    }

    /** The chunk length only changes how the scan is computed: every L gives the sequential result and state. */
    @Test
    void chunkedEqualsSequentialForEveryChunkLength() {
        long seed = 77;
        try (Arena arena = Arena.ofShared()) {
            Dims base = new Dims(1, 37, 4, 8, 2, 12, 1);
            Inputs in = inputs(arena, new SplittableRandom(seed), base, true);
            long ny = (long) base.t() * base.h() * base.p();
            long ns = (long) base.h() * base.p() * base.n();
            Buf ref = Twin.nans(arena, ny);
            Buf refState = Twin.nans(arena, ns);
            SsdScan.REF.forward(in.x, in.dt, in.dtBias, in.a, in.bm, in.cm, in.d, in.s0, ref, refState, base);
            for (int l : new int[] {1, 4, 16, 37, 64}) {
                Dims m = new Dims(1, 37, 4, 8, 2, 12, l);
                Buf y = Twin.nans(arena, ny);
                Buf state = Twin.nans(arena, ns);
                impl().forward(in.x, in.dt, in.dtBias, in.a, in.bm, in.cm, in.d, in.s0, y, state, m);
                String c = "seed=" + seed + " " + m;
                Twin.assertWritten(c + " y", ref, y, 2e-4 * tolerance(), 2e-4 * tolerance());
                Twin.assertWritten(c + " final state", refState, state, 2e-4 * tolerance(), 2e-4 * tolerance());
            }
        }
    }

    /**
     * (seed, dims) for the one-step recurrence: N and P not multiples of any vector width, N past 16 lanes (33),
     * one 4097 wide, G > 1, and Falcon-H1's widths.
     */
    static Stream<Arguments> stepShapes() {
        return Stream.of(Arguments.of(78L, new Dims(2, 9, 4, 6, 2, 10, 4)), Arguments.of(79L, new Dims(1, 5, 2, 7, 1, 33, 4)),
                Arguments.of(80L, new Dims(2, 4, 6, 1, 3, 1, 4)), Arguments.of(81L, new Dims(1, 3, 2, 5, 1, 4097, 4)),
                Arguments.of(82L, new Dims(1, 6, 8, 64, 2, 256, 128)));
    }

    /** Both implementations' steps, token by token, give the reference scan's outputs and final state. */
    @ParameterizedTest(name = "seed={0} {1}")
    @MethodSource("stepShapes")
    void stepEqualsScanTokenByToken(long seed, Dims m) {
        try (Arena arena = Arena.ofShared()) {
            Inputs in = inputs(arena, new SplittableRandom(seed), m, true);
            long ny = (long) m.b() * m.t() * m.h() * m.p();
            Buf y = Twin.nans(arena, ny);
            Buf sT = Twin.nans(arena, (long) m.b() * m.h() * m.p() * m.n());
            SsdScan.REF.forward(in.x, in.dt, in.dtBias, in.a, in.bm, in.cm, in.d, in.s0, y, sT, m);
            int hp = m.h() * m.p();
            int gn = m.g() * m.n();
            for (SsdScan k : new SsdScan[] {SsdScan.REF, impl()}) {
                Buf state = Buf.ofF32(arena, in.s0.toFloatArray());
                if (k != SsdScan.REF && refuses(m)) {
                    Buf y1 = Buf.allocF32(arena, (long) m.b() * hp);
                    assertRefused("seed=" + seed + " " + m, () -> k.step(y1, Buf.allocF32(arena, (long) m.b() * m.h()), in.dtBias,
                            in.a, Buf.allocF32(arena, (long) m.b() * gn), Buf.allocF32(arena, (long) m.b() * gn), in.d, state, y1, m));
                    continue;
                }
                Buf xt = Buf.allocF32(arena, (long) m.b() * hp), yt = Buf.allocF32(arena, (long) m.b() * hp);
                Buf expected = Buf.allocF32(arena, (long) m.b() * hp);
                Buf dtt = Buf.allocF32(arena, (long) m.b() * m.h());
                Buf bt = Buf.allocF32(arena, (long) m.b() * gn), ct = Buf.allocF32(arena, (long) m.b() * gn);
                for (int tt = 0; tt < m.t(); tt++) {
                    for (int bb = 0; bb < m.b(); bb++) {
                        long row = (long) bb * m.t() + tt;
                        for (int i = 0; i < hp; i++) {
                            xt.set((long) bb * hp + i, in.x.get(row * hp + i));
                            expected.set((long) bb * hp + i, y.get(row * hp + i));
                        }
                        for (int i = 0; i < m.h(); i++) {
                            dtt.set((long) bb * m.h() + i, in.dt.get(row * m.h() + i));
                        }
                        for (int i = 0; i < gn; i++) {
                            bt.set((long) bb * gn + i, in.bm.get(row * gn + i));
                            ct.set((long) bb * gn + i, in.cm.get(row * gn + i));
                        }
                    }
                    yt.fill(Float.NaN); // y overwritten at every step; the state is updated in place
                    k.step(xt, dtt, in.dtBias, in.a, bt, ct, in.d, state, yt, m);
                    Twin.assertWritten("seed=" + seed + " " + m + " " + k.getClass().getSimpleName() + " step t=" + tt + " y (B, H, P)",
                            expected, yt, 2e-4 * tolerance(), 2e-4 * tolerance());
                }
                Twin.assertClose("seed=" + seed + " " + m + " " + k.getClass().getSimpleName() + " final state", sT, state,
                        2e-4 * tolerance(), 2e-4 * tolerance());
            }
        }
    }

    @Test
    void knownAnswer() {
        // one head, P = N = 1: dt raw 0 -> delta = ln 2, A = -ln 2 / ln 2 ... decay = exp(ln2 * A) with A = -1 -> 1/2
        // x = 1, B = C = 1, D = 0.5: S1 = ln2, y1 = ln2 + 0.5; S2 = ln2/2 + ln2, y2 = 1.5 ln2 + 0.5
        try (Arena arena = Arena.ofShared()) {
            Buf y = Buf.allocF64(arena, 2);
            SsdScan.REF.forward(Buf.ofF64(arena, 1, 1), Buf.ofF64(arena, 0, 0), null, Buf.ofF64(arena, -1), Buf.ofF64(arena, 1, 1),
                    Buf.ofF64(arena, 1, 1), Buf.ofF64(arena, 0.5), null, y, null, new Dims(1, 2, 1, 1, 1, 1, 1));
            assertEquals(Math.log(2) + 0.5, y.get(0), 1e-15);
            assertEquals(1.5 * Math.log(2) + 0.5, y.get(1), 1e-15);
        }
    }
}
