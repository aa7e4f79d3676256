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
            Buf yr = Buf.allocF32(arena, ny), yc = Buf.allocF32(arena, ny);
            Buf sr = Buf.allocF32(arena, ns), sc = Buf.allocF32(arena, ns);
            SsdScan.REF.forward(in.x, in.dt, in.dtBias, in.a, in.bm, in.cm, in.d, in.s0, yr, sr, m);
            impl().forward(in.x, in.dt, in.dtBias, in.a, in.bm, in.cm, in.d, in.s0, yc, sc, m);
            Twin.assertClose(c + " y", yr, yc, 2e-4 * tolerance(), 2e-4 * tolerance());
            Twin.assertClose(c + " final state", sr, sc, 2e-4 * tolerance(), 2e-4 * tolerance());

            Buf dy = Twin.randn(arena, rnd, (int) ny);
            long bt = (long) m.b() * m.t();
            long bs = bt * m.g() * m.n();
            Buf[] r = {Buf.allocF32(arena, ny), Buf.allocF32(arena, bt * m.h()), Twin.randn(arena, rnd, m.h()), Twin.randn(arena, rnd, m.h()),
                Buf.allocF32(arena, bs), Buf.allocF32(arena, bs), Twin.randn(arena, rnd, m.h()), Buf.allocF32(arena, ns)};
            Buf[] k = new Buf[r.length];
            for (int i = 0; i < r.length; i++) {
                k[i] = Buf.ofF32(arena, r[i].toFloatArray());
            }
            SsdScan.REF.backward(dy, in.x, in.dt, in.dtBias, in.a, in.bm, in.cm, in.d, in.s0, r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], m);
            impl().backward(dy, in.x, in.dt, in.dtBias, in.a, in.bm, in.cm, in.d, in.s0, k[0], k[1], k[2], k[3], k[4], k[5], k[6], k[7], m);
            String[] names = {"dx", "ddt", "ddtBias", "dA", "dB", "dC", "dD", "ds0"};
            for (int i = 0; i < r.length; i++) {
                // sums over many terms (dA, dD, dt_bias) carry float32 rounding: relative tolerance
                Twin.assertClose(c + " " + names[i], r[i], k[i], 5e-4 * tolerance(), 5e-4 * tolerance());
            }
        }
    }

    /** The chunk length only changes how the scan is computed: every L gives the sequential result. */
    @Test
    void chunkedEqualsSequentialForEveryChunkLength() {
        try (Arena arena = Arena.ofShared()) {
            Dims base = new Dims(1, 37, 4, 8, 2, 12, 1);
            Inputs in = inputs(arena, new SplittableRandom(77), base, true);
            long ny = (long) base.t() * base.h() * base.p();
            Buf ref = Buf.allocF32(arena, ny);
            SsdScan.REF.forward(in.x, in.dt, in.dtBias, in.a, in.bm, in.cm, in.d, in.s0, ref, null, base);
            for (int l : new int[] {1, 4, 16, 64}) {
                Dims m = new Dims(1, 37, 4, 8, 2, 12, l);
                Buf y = Buf.allocF32(arena, ny);
                impl().forward(in.x, in.dt, in.dtBias, in.a, in.bm, in.cm, in.d, in.s0, y, null, m);
                Twin.assertClose("chunk " + l, ref, y, 2e-4 * tolerance(), 2e-4 * tolerance());
            }
        }
    }

    @Test
    void stepEqualsScanTokenByToken() {
        Dims m = new Dims(2, 9, 4, 6, 2, 10, 4);
        try (Arena arena = Arena.ofShared()) {
            Inputs in = inputs(arena, new SplittableRandom(78), m, true);
            for (SsdScan k : new SsdScan[] {SsdScan.REF, impl()}) {
                long ny = (long) m.b() * m.t() * m.h() * m.p();
                Buf y = Buf.allocF32(arena, ny);
                Buf sT = Buf.allocF32(arena, (long) m.b() * m.h() * m.p() * m.n());
                k.forward(in.x, in.dt, in.dtBias, in.a, in.bm, in.cm, in.d, in.s0, y, sT, m);
                Buf state = Buf.ofF32(arena, in.s0.toFloatArray());
                int hp = m.h() * m.p();
                int gn = m.g() * m.n();
                Buf xt = Buf.allocF32(arena, (long) m.b() * hp), yt = Buf.allocF32(arena, (long) m.b() * hp);
                Buf dtt = Buf.allocF32(arena, (long) m.b() * m.h());
                Buf bt = Buf.allocF32(arena, (long) m.b() * gn), ct = Buf.allocF32(arena, (long) m.b() * gn);
                for (int tt = 0; tt < m.t(); tt++) {
                    for (int bb = 0; bb < m.b(); bb++) {
                        long row = (long) bb * m.t() + tt;
                        for (int i = 0; i < hp; i++) {
                            xt.set((long) bb * hp + i, in.x.get(row * hp + i));
                        }
                        for (int i = 0; i < m.h(); i++) {
                            dtt.set((long) bb * m.h() + i, in.dt.get(row * m.h() + i));
                        }
                        for (int i = 0; i < gn; i++) {
                            bt.set((long) bb * gn + i, in.bm.get(row * gn + i));
                            ct.set((long) bb * gn + i, in.cm.get(row * gn + i));
                        }
                    }
                    k.step(xt, dtt, in.dtBias, in.a, bt, ct, in.d, state, yt, m);
                    for (int bb = 0; bb < m.b(); bb++) {
                        for (int i = 0; i < hp; i++) {
                            assertEquals(y.get(((long) bb * m.t() + tt) * hp + i), yt.get((long) bb * hp + i), 2e-4 * tolerance(), k + " t=" + tt);
                        }
                    }
                }
                Twin.assertClose(k + " final state", sT, state, 2e-4 * tolerance(), 2e-4 * tolerance());
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
