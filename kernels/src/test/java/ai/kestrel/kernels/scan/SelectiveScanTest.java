package ai.kestrel.kernels.scan;

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

class SelectiveScanTest {
    /** The implementation checked against the reference; subclasses swap in another backend. */
    SelectiveScan impl() {
        return SelectiveScan.CPU;
    }

    record Inputs(Buf x, Buf dt, Buf dtBias, Buf a, Buf bm, Buf cm, Buf d, Buf h0) {
    }

    static Inputs inputs(Arena arena, SplittableRandom rnd, int b, int t, int din, int n, boolean opt) {
        Buf x = Twin.randn(arena, rnd, b * t * din);
        // raw dt on both sides of softplus's threshold at 20, mostly moderate
        float[] dtv = Twin.uniform(rnd, b * t * din, -4, 2);
        for (int i = 0; i < dtv.length; i += 7) {
            dtv[i] = 21 + (i % 3);
        }
        float[] av = Twin.uniform(rnd, din * n, -2, -0.05);
        return new Inputs(x, Buf.ofF32(arena, dtv), opt ? Twin.randn(arena, rnd, din, 0.5) : null, Buf.ofF32(arena, av),
                Twin.randn(arena, rnd, b * t * n), Twin.randn(arena, rnd, b * t * n), opt ? Twin.randn(arena, rnd, din) : null,
                opt ? Twin.randn(arena, rnd, b * din * n) : null);
    }

    /** (seed, B, T, Din, N, optional inputs present). */
    static Stream<Arguments> shapes() {
        return Stream.of(Arguments.of(1L, 1, 1, 1, 1, true), Arguments.of(2L, 2, 2, 7, 7, false),
                Arguments.of(3L, 1, 7, 33, 16, true), Arguments.of(4L, 2, 33, 16, 16, true),
                Arguments.of(5L, 1, 2, 4097, 7, true), Arguments.of(6L, 1, 5, 40, 1, false),
                // several time chunks with a tail (the GPU backward recomputes in chunks of 32), N = 3 and N = 32
                Arguments.of(7L, 2, 70, 21, 16, true), Arguments.of(8L, 1, 65, 9, 3, true), Arguments.of(9L, 2, 33, 5, 32, false));
    }

    @ParameterizedTest(name = "seed={0} B={1} T={2} Din={3} N={4} opt={5}")
    @MethodSource("shapes")
    void cpuMatchesReference(long seed, int b, int t, int din, int n, boolean opt) {
        try (Arena arena = Arena.ofShared()) {
            SplittableRandom rnd = new SplittableRandom(seed);
            Inputs in = inputs(arena, rnd, b, t, din, n, opt);
            String c = "seed=" + seed + " B=" + b + " T=" + t + " Din=" + din + " N=" + n;
            // y and hT overwritten: they start as NaN
            Buf yr = Twin.nans(arena, (long) b * t * din), yc = Twin.nans(arena, (long) b * t * din);
            Buf hr = Twin.nans(arena, (long) b * din * n), hc = Twin.nans(arena, (long) b * din * n);
            SelectiveScan.REF.forward(in.x, in.dt, in.dtBias, in.a, in.bm, in.cm, in.d, in.h0, yr, hr, b, t, din, n);
            impl().forward(in.x, in.dt, in.dtBias, in.a, in.bm, in.cm, in.d, in.h0, yc, hc, b, t, din, n);
            Twin.assertWritten(c + " y", yr, yc, 1e-4, 1e-4);
            Twin.assertWritten(c + " hT", hr, hc, 1e-4, 1e-4);

            Buf dy = Twin.randn(arena, rnd, b * t * din);
            Buf[] r = grads(arena, b, t, din, n, rnd);
            Buf[] k = new Buf[r.length];
            for (int i = 0; i < r.length; i++) {
                k[i] = Buf.ofF32(arena, r[i].toFloatArray());
            }
            SelectiveScan.REF.backward(dy, in.x, in.dt, in.dtBias, in.a, in.bm, in.cm, in.d, in.h0, r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], b, t, din, n);
            impl().backward(dy, in.x, in.dt, in.dtBias, in.a, in.bm, in.cm, in.d, in.h0, k[0], k[1], k[2], k[3], k[4], k[5], k[6], k[7], b, t, din, n);
            String[] names = {"dx", "ddt", "ddtBias", "dA", "dB", "dC", "dD", "dh0"};
            boolean[] overwritten = {true, true, false, false, true, true, false, true};
            for (int i = 0; i < r.length; i++) {
                if (overwritten[i]) {
                    Twin.assertWritten(c + " " + names[i], r[i], k[i], 2e-4, 2e-4);
                } else {
                    Twin.assertClose(c + " " + names[i], r[i], k[i], 2e-4, 2e-4);
                }
            }
        }
    }

    /**
     * dx, ddt, ddtBias (accumulated), dA (acc), dB, dC, dD (acc), dh0: the overwritten ones start as NaN, the
     * accumulated ones non-zero.
     */
    static Buf[] grads(Arena arena, int b, int t, int din, int n, SplittableRandom rnd) {
        return new Buf[] {Twin.nans(arena, (long) b * t * din), Twin.nans(arena, (long) b * t * din), Twin.randn(arena, rnd, din),
            Twin.randn(arena, rnd, din * n), Twin.nans(arena, (long) b * t * n), Twin.nans(arena, (long) b * t * n),
            Twin.randn(arena, rnd, din), Twin.nans(arena, (long) b * din * n)};
    }

    /** (seed, B, T, Din, N) for the one-step recurrence: Din 1, 7, 19, 33 and 4097, N up to 32. */
    static Stream<Arguments> stepShapes() {
        return Stream.of(Arguments.of(12L, 2, 6, 19, 16), Arguments.of(13L, 1, 4, 4097, 7), Arguments.of(14L, 1, 5, 33, 1),
                Arguments.of(15L, 2, 3, 7, 32), Arguments.of(16L, 1, 3, 1, 16));
    }

    /** Both implementations' steps, token by token, give the reference scan's outputs and final state. */
    @ParameterizedTest(name = "seed={0} B={1} T={2} Din={3} N={4}")
    @MethodSource("stepShapes")
    void stepEqualsScanTokenByToken(long seed, int b, int t, int din, int n) {
        try (Arena arena = Arena.ofShared()) {
            Inputs in = inputs(arena, new SplittableRandom(seed), b, t, din, n, true);
            Buf y = Twin.nans(arena, (long) b * t * din);
            Buf hT = Twin.nans(arena, (long) b * din * n);
            SelectiveScan.REF.forward(in.x, in.dt, in.dtBias, in.a, in.bm, in.cm, in.d, in.h0, y, hT, b, t, din, n);
            String c = "seed=" + seed + " B=" + b + " T=" + t + " Din=" + din + " N=" + n;
            for (SelectiveScan k : new SelectiveScan[] {SelectiveScan.REF, impl()}) {
                Buf h = Buf.ofF32(arena, in.h0.toFloatArray());
                Buf xt = Buf.allocF32(arena, b * din), dtt = Buf.allocF32(arena, b * din), yt = Buf.allocF32(arena, b * din);
                Buf expected = Buf.allocF32(arena, b * din);
                Buf bt = Buf.allocF32(arena, b * n), ct = Buf.allocF32(arena, b * n);
                for (int tt = 0; tt < t; tt++) {
                    for (int bb = 0; bb < b; bb++) {
                        for (int d = 0; d < din; d++) {
                            xt.set((long) bb * din + d, in.x.get(((long) bb * t + tt) * din + d));
                            dtt.set((long) bb * din + d, in.dt.get(((long) bb * t + tt) * din + d));
                            expected.set((long) bb * din + d, y.get(((long) bb * t + tt) * din + d));
                        }
                        for (int j = 0; j < n; j++) {
                            bt.set((long) bb * n + j, in.bm.get(((long) bb * t + tt) * n + j));
                            ct.set((long) bb * n + j, in.cm.get(((long) bb * t + tt) * n + j));
                        }
                    }
                    yt.fill(Float.NaN); // y overwritten at every step; the state h is updated in place
                    k.step(xt, dtt, in.dtBias, in.a, bt, ct, in.d, h, yt, b, din, n);
                    Twin.assertWritten(c + " " + k.getClass().getSimpleName() + " step t=" + tt + " y (B, Din)", expected, yt, 1e-4, 1e-4);
                }
                Twin.assertClose(c + " " + k.getClass().getSimpleName() + " final state", hT, h, 1e-4, 1e-4);
            }
        }
    }

    @Test
    void knownAnswer() {
        // one channel, one state: dt raw 0 -> delta = ln 2; A = -1 -> decay = 1/2; B = C = 1, x = 1, D = 0:
        // h1 = ln2, h2 = ln2/2 + ln2 = 1.5 ln2
        try (Arena arena = Arena.ofShared()) {
            Buf y = Buf.allocF64(arena, 2);
            SelectiveScan.REF.forward(Buf.ofF64(arena, 1, 1), Buf.ofF64(arena, 0, 0), null, Buf.ofF64(arena, -1),
                    Buf.ofF64(arena, 1, 1), Buf.ofF64(arena, 1, 1), null, null, y, null, 1, 2, 1, 1);
            assertEquals(Math.log(2), y.get(0), 1e-15);
            assertEquals(1.5 * Math.log(2), y.get(1), 1e-15);
        }
    }
}
