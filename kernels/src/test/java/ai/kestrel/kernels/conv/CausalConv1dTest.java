package ai.kestrel.kernels.conv;

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

class CausalConv1dTest {
    /** The implementation checked against the reference; subclasses swap in another backend. */
    CausalConv1d impl() {
        return CausalConv1d.CPU;
    }

    /** (seed, B, T, C, W, withState, withBias). */
    static Stream<Arguments> shapes() {
        return Stream.of(Arguments.of(1L, 1, 1, 1, 4, false, true), Arguments.of(2L, 2, 2, 7, 2, true, true),
                Arguments.of(3L, 1, 7, 33, 4, true, false), Arguments.of(4L, 2, 33, 16, 4, false, true),
                Arguments.of(5L, 1, 3, 4097, 4, true, true), Arguments.of(6L, 2, 40, 2048, 4, true, true),
                Arguments.of(7L, 1, 2, 5, 4, true, true),
                // enough rows for several weight-gradient slices on the GPU (128 rows each)
                Arguments.of(8L, 3, 300, 45, 4, true, true));
    }

    @ParameterizedTest(name = "seed={0} B={1} T={2} C={3} W={4} state={5} bias={6}")
    @MethodSource("shapes")
    void cpuMatchesReference(long seed, int b, int t, int c, int w, boolean withState, boolean withBias) {
        try (Arena arena = Arena.ofShared()) {
            SplittableRandom rnd = new SplittableRandom(seed);
            int n = b * t * c;
            int sn = b * (w - 1) * c;
            Buf x = Twin.randn(arena, rnd, n);
            Buf wt = Twin.randn(arena, rnd, c * w);
            Buf bias = withBias ? Twin.randn(arena, rnd, c) : null;
            Buf st = withState ? Twin.randn(arena, rnd, sn) : null;
            String ctx = "seed=" + seed + " B=" + b + " T=" + t + " C=" + c + " W=" + w;
            // y and stateOut overwritten: they start as NaN
            Buf yr = Twin.nans(arena, n), yc = Twin.nans(arena, n), sr = Twin.nans(arena, sn), sc = Twin.nans(arena, sn);
            CausalConv1d.REF.forward(x, wt, bias, st, yr, sr, b, t, c, w);
            impl().forward(x, wt, bias, st, yc, sc, b, t, c, w);
            Twin.assertWritten(ctx + " y", yr, yc, 1e-5, 1e-5);
            Twin.assertWritten(ctx + " stateOut", sr, sc, 0, 0);
            Buf dy = Twin.randn(arena, rnd, n);
            Buf dxr = Twin.nans(arena, n), dxc = Twin.nans(arena, n); // dx, dstate0 overwritten; dw, dbias accumulated
            Buf dwr = Twin.randn(arena, rnd, c * w), dwc = Buf.ofF32(arena, dwr.toFloatArray());
            Buf dbr = Twin.randn(arena, rnd, c), dbc = Buf.ofF32(arena, dbr.toFloatArray());
            Buf dsr = withState ? Twin.nans(arena, sn) : null, dsc = withState ? Twin.nans(arena, sn) : null;
            CausalConv1d.REF.backward(dy, x, wt, st, dxr, dwr, dbr, dsr, b, t, c, w);
            impl().backward(dy, x, wt, st, dxc, dwc, dbc, dsc, b, t, c, w);
            Twin.assertWritten(ctx + " dx", dxr, dxc, 1e-5, 1e-5);
            Twin.assertClose(ctx + " dw", dwr, dwc, 1e-4, 1e-5);
            Twin.assertClose(ctx + " dbias", dbr, dbc, 1e-4, 1e-5);
            if (withState) {
                Twin.assertWritten(ctx + " dstate", dsr, dsc, 1e-5, 1e-5);
            }
        }
    }

    /** (seed, B, C, W, withBias) for the single-token step: widths 4 (the vector path) and others, odd channel counts. */
    static Stream<Arguments> stepShapes() {
        return Stream.of(Arguments.of(21L, 1, 1, 4, true), Arguments.of(22L, 2, 7, 4, false),
                Arguments.of(23L, 1, 33, 4, true), Arguments.of(24L, 3, 2048, 4, true), Arguments.of(25L, 1, 4097, 4, false),
                Arguments.of(26L, 2, 48, 2, true), Arguments.of(27L, 1, 37, 3, true), Arguments.of(28L, 2, 16, 5, false));
    }

    @ParameterizedTest(name = "seed={0} B={1} C={2} W={3} bias={4}")
    @MethodSource("stepShapes")
    void stepMatchesReference(long seed, int b, int c, int w, boolean withBias) {
        try (Arena arena = Arena.ofShared()) {
            SplittableRandom rnd = new SplittableRandom(seed);
            Buf wt = Twin.randn(arena, rnd, c * w);
            Buf bias = withBias ? Twin.randn(arena, rnd, c) : null;
            Buf sr = Twin.randn(arena, rnd, b * (w - 1) * c);
            Buf sc = Buf.ofF32(arena, sr.toFloatArray());
            String ctx = "seed=" + seed + " B=" + b + " C=" + c + " W=" + w;
            for (int step = 0; step < 3; step++) {
                Buf x = Twin.randn(arena, rnd, b * c);
                Buf yr = Twin.nans(arena, b * c), yc = Twin.nans(arena, b * c); // y overwritten; the state shifted in place
                CausalConv1d.REF.step(x, wt, bias, sr, yr, b, c, w);
                impl().step(x, wt, bias, sc, yc, b, c, w);
                Twin.assertWritten(ctx + " step " + step + " y", yr, yc, 1e-5, 1e-5);
                Twin.assertClose(ctx + " step " + step + " state", sr, sc, 0, 0);
            }
        }
    }

    /** Feeding tokens one at a time through step() equals the whole-sequence forward, and so does prefill-then-continue. */
    @Test
    void stepAndContinuationEqualOnePass() {
        int b = 2, t = 9, c = 37, w = 4;
        long seed = 11;
        try (Arena arena = Arena.ofShared()) {
            SplittableRandom rnd = new SplittableRandom(seed);
            Buf x = Twin.randn(arena, rnd, b * t * c);
            Buf wt = Twin.randn(arena, rnd, c * w);
            Buf bias = Twin.randn(arena, rnd, c);
            for (CausalConv1d k : new CausalConv1d[] {CausalConv1d.REF, impl()}) {
                Buf full = x.like(arena);
                Buf fullState = Buf.allocF32(arena, b * (w - 1) * c);
                k.forward(x, wt, bias, null, full, fullState, b, t, c, w);
                Buf state = Buf.allocF32(arena, b * (w - 1) * c);
                Buf xt = Buf.allocF32(arena, b * c), yt = Buf.allocF32(arena, b * c);
                for (int tt = 0; tt < t; tt++) {
                    for (int bb = 0; bb < b; bb++) {
                        for (int ch = 0; ch < c; ch++) {
                            xt.set((long) bb * c + ch, x.get(((long) bb * t + tt) * c + ch));
                        }
                    }
                    k.step(xt, wt, bias, state, yt, b, c, w);
                    for (int bb = 0; bb < b; bb++) {
                        for (int ch = 0; ch < c; ch++) {
                            assertEquals(full.get(((long) bb * t + tt) * c + ch), yt.get((long) bb * c + ch), 1e-5,
                                    "seed=11 B=" + b + " T=" + t + " C=" + c + " W=" + w + " " + k + " step t=" + tt + " b=" + bb + " channel " + ch);
                        }
                    }
                }
                Twin.assertClose("seed=" + seed + " B=" + b + " T=" + t + " C=" + c + " W=" + w + " " + k + " state after steps", fullState, state, 0, 0);
                // prefill 5 tokens, then continue with the other 4 from the returned state
                int t1 = 5;
                Buf xa = Buf.allocF32(arena, b * t1 * c), xb = Buf.allocF32(arena, b * (t - t1) * c);
                for (int bb = 0; bb < b; bb++) {
                    for (int tt = 0; tt < t; tt++) {
                        for (int ch = 0; ch < c; ch++) {
                            double v = x.get(((long) bb * t + tt) * c + ch);
                            if (tt < t1) {
                                xa.set(((long) bb * t1 + tt) * c + ch, v);
                            } else {
                                xb.set(((long) bb * (t - t1) + tt - t1) * c + ch, v);
                            }
                        }
                    }
                }
                Buf ya = xa.like(arena), yb = xb.like(arena), mid = Buf.allocF32(arena, b * (w - 1) * c);
                k.forward(xa, wt, bias, null, ya, mid, b, t1, c, w);
                k.forward(xb, wt, bias, mid, yb, null, b, t - t1, c, w);
                for (int bb = 0; bb < b; bb++) {
                    for (int tt = t1; tt < t; tt++) {
                        for (int ch = 0; ch < c; ch++) {
                            assertEquals(full.get(((long) bb * t + tt) * c + ch), yb.get(((long) bb * (t - t1) + tt - t1) * c + ch), 1e-5,
                                    "seed=11 B=" + b + " T=" + t + " C=" + c + " W=" + w + " " + k + " continued after " + t1
                                            + " tokens: t=" + tt + " b=" + bb + " channel " + ch);
                        }
                    }
                }
            }
        }
    }

    @Test
    void knownAnswer() {
        // one channel, taps (1, 2, 3, 4), bias 10: y[t] = 10 + x[t-3] + 2x[t-2] + 3x[t-1] + 4x[t]
        try (Arena arena = Arena.ofShared()) {
            Buf x = Buf.ofF64(arena, 1, 10, 100);
            Buf y = x.like(arena);
            CausalConv1d.REF.forward(x, Buf.ofF64(arena, 1, 2, 3, 4), Buf.ofF64(arena, 10), null, y, null, 1, 3, 1, 4);
            assertEquals(14, y.get(0));
            assertEquals(10 + 3 + 40, y.get(1));
            assertEquals(10 + 2 + 30 + 400, y.get(2));
        }
    }
}
