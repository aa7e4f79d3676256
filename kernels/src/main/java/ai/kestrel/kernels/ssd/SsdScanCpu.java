package ai.kestrel.kernels.ssd;

import ai.kestrel.kernels.Vec;
import static ai.kestrel.kernels.Vec.F;

import ai.kestrel.kernels.Buf;
import ai.kestrel.kernels.Parallel;
import ai.kestrel.kernels.internal.Transpose;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;

/**
 * Vector API {@link SsdScan} by the chunked algorithm ({@link SsdChunked}).
 * <ol>
 *   <li>Per (batch, group): B and C are gathered into arrays, and per chunk the products
 *       {@code C_i · B_j} ({@code j <= i}) are computed once and shared by the group's heads.</li>
 *   <li>Per (batch, head), in parallel: the head's x and dt are gathered, the chunks run in order carrying
 *       the state (float32), and y (or the gradients) are scattered back.</li>
 *   <li>Backward: dB and dC sum over the heads of a group and A, D, dt_bias over the batch; each head writes
 *       its own partials, added afterwards in a fixed order (deterministic whatever the thread timing).</li>
 * </ol>
 */
final class SsdScanCpu implements SsdScan {
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    /** Per (batch, group): {@code B, C (T, N)} and the chunk products {@code cb[c][i*L + j]}. */
    private record Group(float[] bm, float[] cm, float[][] cb) {
    }

    /**
     * The groups' B and C and their chunk products, one task per (batch, group, chunk): {@code cb = C·Bᵀ} over the
     * chunk, by {@link SmallGemm} against B transposed, rows in halves as the backward's {@code DY Xᵀ} (only
     * {@code j <= i} is read; what lies above the diagonal is left undefined). One dot product per pair on one
     * task per group left the second thread idle and took ~4% of a forward+backward (B 1, one group).
     */
    private static Group[] groups(MemorySegment bm, MemorySegment cm, Dims m) {
        int t = m.t();
        int n = m.n();
        int l = m.chunk();
        int chunks = (t + l - 1) / l;
        int count = m.b() * m.g();
        Group[] out = new Group[count];
        for (int bg = 0; bg < count; bg++) {
            out[bg] = new Group(new float[t * n], new float[t * n], new float[chunks][l * l]);
        }
        Parallel.range(count * chunks, 1, (lo, hi) -> {
            float[] bt = new float[n * l];
            for (int task = lo; task < hi; task++) {
                int bg = task / chunks;
                int ch = task % chunks;
                int bb = bg / m.g();
                int gg = bg % m.g();
                float[] b = out[bg].bm();
                float[] c = out[bg].cm();
                int t0 = ch * l;
                int len = Math.min(l, t - t0);
                for (int tt = t0; tt < t0 + len; tt++) {
                    long o = (((long) bb * t + tt) * m.g() + gg) * n * 4;
                    MemorySegment.copy(bm, Buf.F32, o, b, tt * n, n);
                    MemorySegment.copy(cm, Buf.F32, o, c, tt * n, n);
                }
                Transpose.matrix(b, t0 * n, len, n, bt); // bt (N, len)
                float[] cb = out[bg].cb()[ch];
                int half = Math.min(len, Math.max(4, (len / 2 + 3) & -4));
                int set = SmallGemm.FULL | SmallGemm.SET;
                SmallGemm.run(c, t0 * n, n, 1, bt, 0, len, cb, 0, l, half, n, half, set);
                SmallGemm.run(c, (t0 + half) * n, n, 1, bt, 0, len, cb, half * l, l, len - half, n, len, set);
            }
        });
        return out;
    }

    private static float opt(Buf v, int i) {
        return v == null ? 0f : (float) v.get(i);
    }

    /** Copies head {@code hh} of {@code src (B, T, H, width)} into {@code dst (T, width)}. */
    private static void gather(MemorySegment src, int bb, int hh, Dims m, int width, float[] dst) {
        for (int tt = 0; tt < m.t(); tt++) {
            MemorySegment.copy(src, Buf.F32, (((long) bb * m.t() + tt) * m.h() + hh) * width * 4, dst, tt * width, width);
        }
    }

    private static void scatter(float[] src, MemorySegment dst, int bb, int hh, Dims m, int width) {
        for (int tt = 0; tt < m.t(); tt++) {
            MemorySegment.copy(src, tt * width, dst, Buf.F32, (((long) bb * m.t() + tt) * m.h() + hh) * width * 4, width);
        }
    }

    /** The (P, N) state of (bb, hh) from a (B, H, P, N) segment into n-major {@code st}, or zeros. */
    private static float[] loadState(MemorySegment s, int bb, int hh, Dims m) {
        int p = m.p();
        int n = m.n();
        float[] st = new float[n * p];
        if (s != null) {
            long base = ((long) bb * m.h() + hh) * p * n;
            for (int q = 0; q < p; q++) {
                for (int k = 0; k < n; k++) {
                    st[k * p + q] = s.getAtIndex(Buf.F32, base + (long) q * n + k);
                }
            }
        }
        return st;
    }

    private static void storeState(float[] st, MemorySegment s, int bb, int hh, Dims m) {
        int p = m.p();
        int n = m.n();
        long base = ((long) bb * m.h() + hh) * p * n;
        for (int q = 0; q < p; q++) {
            for (int k = 0; k < n; k++) {
                s.setAtIndex(Buf.F32, base + (long) q * n + k, st[k * p + q]);
            }
        }
    }

    @Override
    public void forward(Buf xb, Buf dtb, Buf dtBias, Buf a, Buf bmb, Buf cmb, Buf d, Buf s0b, Buf yb, Buf sTb, Dims m) {
        long bth = (long) m.b() * m.t() * m.h();
        MemorySegment x = xb.requireF32("x", bth * m.p()).seg();
        MemorySegment dt = dtb.requireF32("dt", bth).seg();
        MemorySegment y = yb.requireF32("y", bth * m.p()).seg();
        long bs = (long) m.b() * m.t() * m.g() * m.n();
        Group[] groups = groups(bmb.requireF32("B", bs).seg(), cmb.requireF32("C", bs).seg(), m);
        MemorySegment s0 = s0b == null ? null : s0b.requireF32("s0", (long) m.b() * m.h() * m.p() * m.n()).seg();
        MemorySegment sT = sTb == null ? null : sTb.requireF32("sT", (long) m.b() * m.h() * m.p() * m.n()).seg();
        Parallel.range(m.b() * m.h(), 1, (lo, hi) -> {
            float[] xh = new float[m.t() * m.p()];
            float[] yh = new float[m.t() * m.p()];
            float[] dth = new float[m.t()];
            for (int task = lo; task < hi; task++) {
                int bb = task / m.h();
                int hh = task % m.h();
                Group g = groups[bb * m.g() + m.group(hh)];
                gather(x, bb, hh, m, m.p(), xh);
                gather(dt, bb, hh, m, 1, dth);
                float[] st = loadState(s0, bb, hh, m);
                new SsdChunked(m.t(), m.p(), m.n(), m.chunk(), (float) a.get(hh), opt(d, hh), opt(dtBias, hh))
                        .forward(xh, dth, g.bm(), g.cm(), g.cb(), st, yh, null);
                scatter(yh, y, bb, hh, m, m.p());
                if (sT != null) {
                    storeState(st, sT, bb, hh, m);
                }
            }
        });
    }

    @Override
    public void backward(Buf dyb, Buf xb, Buf dtb, Buf dtBias, Buf a, Buf bmb, Buf cmb, Buf d, Buf s0b,
                         Buf dxb, Buf ddtb, Buf ddtBias, Buf dA, Buf dBb, Buf dCb, Buf dD, Buf ds0b, Dims m) {
        int t = m.t();
        int p = m.p();
        int n = m.n();
        long bth = (long) m.b() * t * m.h();
        MemorySegment dy = dyb.requireF32("dy", bth * p).seg();
        MemorySegment x = xb.requireF32("x", bth * p).seg();
        MemorySegment dt = dtb.requireF32("dt", bth).seg();
        long bs = (long) m.b() * t * m.g() * n;
        Group[] groups = groups(bmb.requireF32("B", bs).seg(), cmb.requireF32("C", bs).seg(), m);
        MemorySegment s0 = s0b == null ? null : s0b.requireF32("s0", (long) m.b() * m.h() * p * n).seg();
        int tasks = m.b() * m.h();
        float[][] dBh = new float[tasks][];
        float[][] dCh = new float[tasks][];
        float[][] sums = new float[tasks][3];
        Parallel.range(tasks, 1, (lo, hi) -> {
            float[] xh = new float[t * p];
            float[] dyh = new float[t * p];
            float[] dth = new float[t];
            float[] dxh = new float[t * p];
            float[] ddth = new float[t];
            float[] ds0h = new float[n * p];
            for (int task = lo; task < hi; task++) {
                int bb = task / m.h();
                int hh = task % m.h();
                Group g = groups[bb * m.g() + m.group(hh)];
                gather(x, bb, hh, m, p, xh);
                gather(dy, bb, hh, m, p, dyh);
                gather(dt, bb, hh, m, 1, dth);
                // (the backward writes every element of dx, ddt and ds0: the arrays serve each head of the range)
                SsdChunked.Grads gr = new SsdChunked.Grads(dxh, ddth, new float[t * n], new float[t * n], ds0h, sums[task]);
                new SsdChunked(t, p, n, m.chunk(), (float) a.get(hh), opt(d, hh), opt(dtBias, hh))
                        .backward(dyh, xh, dth, g.bm(), g.cm(), g.cb(), loadState(s0, bb, hh, m), gr);
                if (dxb != null) {
                    scatter(gr.dx(), dxb.seg(), bb, hh, m, p);
                }
                if (ddtb != null) {
                    scatter(gr.ddt(), ddtb.seg(), bb, hh, m, 1);
                }
                if (ds0b != null) {
                    storeState(gr.ds0(), ds0b.seg(), bb, hh, m);
                }
                dBh[task] = gr.dB();
                dCh[task] = gr.dC();
            }
        });
        // fixed-order sums: dB, dC over the heads of each group; dt_bias, A, D over the batch
        sumHeads(dBh, dBb, m);
        sumHeads(dCh, dCb, m);
        for (int hh = 0; hh < m.h(); hh++) {
            double gb = 0;
            double ga = 0;
            double gd = 0;
            for (int bb = 0; bb < m.b(); bb++) {
                float[] s = sums[bb * m.h() + hh];
                gb += s[0];
                ga += s[1];
                gd += s[2];
            }
            if (ddtBias != null) {
                ddtBias.add(hh, gb);
            }
            if (dA != null) {
                dA.add(hh, ga);
            }
            if (dD != null) {
                dD.add(hh, gd);
            }
        }
    }

    /**
     * {@code dst (B, T, G, N)}: each group's sum of its heads' per-head gradients {@code perHead[b*H + h] (T, N)},
     * in head order (deterministic). Rows of T in parallel, N by vectors, in float for a float32 {@code dst}: one
     * thread summing in double, element by element, took 11% of a forward+backward at 1.5B-Deep's shapes (24 heads of
     * one group, T = 512, N = 256; Zen 3, 2026-12-02).
     */
    private static void sumHeads(float[][] perHead, Buf dst, Dims m) {
        if (dst == null) {
            return;
        }
        int t = m.t();
        int n = m.n();
        int hpg = m.h() / m.g();
        if (!dst.isF32()) {
            for (int bb = 0; bb < m.b(); bb++) {
                for (int gg = 0; gg < m.g(); gg++) {
                    for (int tt = 0; tt < t; tt++) {
                        for (int k = 0; k < n; k++) {
                            double sum = 0;
                            for (int hh = gg * hpg; hh < (gg + 1) * hpg; hh++) {
                                sum += perHead[bb * m.h() + hh][tt * n + k];
                            }
                            dst.set((((long) bb * t + tt) * m.g() + gg) * n + k, sum);
                        }
                    }
                }
            }
            return;
        }
        MemorySegment out = dst.seg();
        int rows = m.b() * m.g() * t;
        Parallel.range(rows, Math.max(1, (16 << 10) / Math.max(1, n * hpg)), (lo, hi) -> {
            float[] acc = new float[n];
            for (int row = lo; row < hi; row++) {
                int bb = row / (m.g() * t);
                int gg = row / t % m.g();
                int tt = row % t;
                int h0 = bb * m.h() + gg * hpg;
                System.arraycopy(perHead[h0], tt * n, acc, 0, n);
                for (int hh = 1; hh < hpg; hh++) {
                    Lanes.axpy(1f, perHead[h0 + hh], tt * n, acc, 0, n);
                }
                MemorySegment.copy(acc, 0, out, Buf.F32, (((long) bb * t + tt) * m.g() + gg) * n * 4, n);
            }
        });
    }

    /**
     * One state row of the step: {@code s = s·decay + B·dx} over its {@code n} values (in place), returning
     * {@code C · s}. A method of its own so that C2 inlines every vector call in it (inside the step's lambda
     * {@link Vec#sum} was left out of line and boxed its argument, once per row: 100,000 boxes per token of a
     * 66-layer model).
     */
    private static float stepRow(MemorySegment s, long so, MemorySegment bm, MemorySegment cm, long bo, int n, float decay, float dx) {
        FloatVector acc = FloatVector.zero(F);
        int k = 0;
        for (int bound = F.loopBound(n); k < bound; k += F.length()) {
            FloatVector sv = FloatVector.fromMemorySegment(F, s, so + k * 4L, LE).mul(decay)
                    .add(FloatVector.fromMemorySegment(F, bm, bo + k * 4L, LE).mul(dx));
            sv.intoMemorySegment(s, so + k * 4L, LE);
            acc = sv.fma(FloatVector.fromMemorySegment(F, cm, bo + k * 4L, LE), acc);
        }
        if (k < n) {
            VectorMask<Float> mk = F.indexInRange(k, n);
            FloatVector sv = FloatVector.fromMemorySegment(F, s, so + k * 4L, LE, mk).mul(decay)
                    .add(FloatVector.fromMemorySegment(F, bm, bo + k * 4L, LE, mk).mul(dx));
            sv.intoMemorySegment(s, so + k * 4L, LE, mk);
            acc = sv.fma(FloatVector.fromMemorySegment(F, cm, bo + k * 4L, LE, mk), acc);
        }
        return Vec.sum(acc);
    }

    @Override
    public void step(Buf xb, Buf dtb, Buf dtBias, Buf a, Buf bmb, Buf cmb, Buf d, Buf stateb, Buf yb, Dims m) {
        int p = m.p();
        int n = m.n();
        MemorySegment x = xb.requireF32("x", (long) m.b() * m.h() * p).seg();
        MemorySegment dt = dtb.requireF32("dt", (long) m.b() * m.h()).seg();
        MemorySegment bm = bmb.requireF32("B", (long) m.b() * m.g() * n).seg();
        MemorySegment cm = cmb.requireF32("C", (long) m.b() * m.g() * n).seg();
        MemorySegment s = stateb.requireF32("state", (long) m.b() * m.h() * p * n).seg();
        MemorySegment y = yb.requireF32("y", (long) m.b() * m.h() * p).seg();
        // the state (B, H, P, N) has N contiguous: vectors run over N, one row p at a time
        Parallel.range(m.b() * m.h(), 1, (lo, hi) -> {
            for (int task = lo; task < hi; task++) {
                int bb = task / m.h();
                int hh = task % m.h();
                float delta = Lanes.softplus(dt.getAtIndex(Buf.F32, task) + opt(dtBias, hh));
                float decay = (float) Math.exp(delta * a.get(hh));
                float dh = opt(d, hh);
                long bo = ((long) bb * m.g() + m.group(hh)) * n * 4;
                for (int q = 0; q < p; q++) {
                    float xv = x.getAtIndex(Buf.F32, (long) task * p + q);
                    long so = ((long) task * p + q) * n * 4;
                    y.setAtIndex(Buf.F32, (long) task * p + q, dh * xv + stepRow(s, so, bm, cm, bo, n, decay, delta * xv));
                }
            }
        });
    }
}
