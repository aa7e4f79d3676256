package ai.kestrel.kernels.conv;

import static ai.kestrel.kernels.Vec.F;

import ai.kestrel.kernels.Buf;
import ai.kestrel.kernels.Parallel;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;

/**
 * Vector API {@link CausalConv1d}: channels are contiguous, so every tap is a vector FMA across channels. The
 * weight is transposed once per call to {@code (W, C)} so each tap's weights are contiguous too. Weight and
 * bias gradients are split by channel blocks, each thread owning its slice.
 */
final class CausalConv1dCpu implements CausalConv1d {
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    /** {@code w (C, W)} transposed to {@code (W, C)}. */
    private static float[] taps(Buf w, int c, int width) {
        float[] t = new float[width * c];
        MemorySegment s = w.requireF32("w", (long) c * width).seg();
        for (int ch = 0; ch < c; ch++) {
            for (int j = 0; j < width; j++) {
                t[j * c + ch] = s.getAtIndex(Buf.F32, (long) ch * width + j);
            }
        }
        return t;
    }

    /** Byte offset of input time {@code s} of batch {@code bb}: in x, or (negative s) in state0; -1 for zeros. */
    private static long src(int bb, int s, int t, int c, int width, boolean hasState) {
        if (s >= 0) {
            return ((long) bb * t + s) * c * 4;
        }
        return hasState ? ((long) bb * (width - 1) + (width - 1 + s)) * c * 4 : -1;
    }

    @Override
    public void forward(Buf xb, Buf w, Buf bias, Buf state0b, Buf yb, Buf stateOutb, int b, int t, int c, int width) {
        MemorySegment x = xb.requireF32("x", (long) b * t * c).seg();
        MemorySegment y = yb.requireF32("y", (long) b * t * c).seg();
        MemorySegment st = state0b == null ? null : state0b.requireF32("state0", (long) b * (width - 1) * c).seg();
        float[] wt = taps(w, c, width);
        float[] bs = bias == null ? new float[c] : bias.requireF32("bias", c).toFloatArray();
        Parallel.range(b * t, Math.max(1, 8192 / Math.max(1, c * width)), (lo, hi) -> {
            long[] off = new long[width];
            for (int row = lo; row < hi; row++) {
                int bb = row / t;
                int tt = row % t;
                for (int j = 0; j < width; j++) {
                    off[j] = src(bb, tt - (width - 1) + j, t, c, width, st != null);
                }
                long yo = (long) row * c * 4;
                int ch = 0;
                for (int bound = F.loopBound(c); ch < bound; ch += F.length()) {
                    FloatVector acc = FloatVector.fromArray(F, bs, ch);
                    for (int j = 0; j < width; j++) {
                        if (off[j] >= 0) {
                            FloatVector in = FloatVector.fromMemorySegment(F, tt - (width - 1) + j >= 0 ? x : st, off[j] + ch * 4L, LE);
                            acc = in.fma(FloatVector.fromArray(F, wt, j * c + ch), acc);
                        }
                    }
                    acc.intoMemorySegment(y, yo + ch * 4L, LE);
                }
                for (; ch < c; ch++) {
                    float s = bs[ch];
                    for (int j = 0; j < width; j++) {
                        if (off[j] >= 0) {
                            s += wt[j * c + ch] * (tt - (width - 1) + j >= 0 ? x : st).get(Buf.F32, off[j] + ch * 4L);
                        }
                    }
                    y.set(Buf.F32, yo + ch * 4L, s);
                }
            }
        });
        if (stateOutb != null) {
            MemorySegment so = stateOutb.requireF32("stateOut", (long) b * (width - 1) * c).seg();
            for (int bb = 0; bb < b; bb++) {
                for (int i = 0; i < width - 1; i++) {
                    int s = t - (width - 1) + i;
                    long dst = ((long) bb * (width - 1) + i) * c * 4;
                    long from = src(bb, s, t, c, width, st != null);
                    if (from < 0) {
                        so.asSlice(dst, c * 4L).fill((byte) 0);
                    } else {
                        MemorySegment.copy(s >= 0 ? x : st, from, so, dst, c * 4L);
                    }
                }
            }
        }
    }

    @Override
    public void backward(Buf dyb, Buf xb, Buf w, Buf state0b, Buf dxb, Buf dwb, Buf dbiasb, Buf dstateb,
                         int b, int t, int c, int width) {
        MemorySegment dy = dyb.requireF32("dy", (long) b * t * c).seg();
        MemorySegment x = xb.requireF32("x", (long) b * t * c).seg();
        MemorySegment st = state0b == null ? null : state0b.requireF32("state0", (long) b * (width - 1) * c).seg();
        MemorySegment dx = dxb == null ? null : dxb.requireF32("dx", (long) b * t * c).seg();
        MemorySegment ds = dstateb == null ? null : dstateb.requireF32("dstate0", (long) b * (width - 1) * c).seg();
        float[] wt = taps(w, c, width);
        int span = t + width - 1; // input times -(W-1) .. T-1
        if (dx != null || ds != null) {
            Parallel.range(b * span, Math.max(1, 8192 / Math.max(1, c * width)), (lo, hi) -> {
                for (int row = lo; row < hi; row++) {
                    int bb = row / span;
                    int s = row % span - (width - 1);
                    MemorySegment out = s >= 0 ? dx : ds;
                    if (out == null) {
                        continue;
                    }
                    long oo = s >= 0 ? ((long) bb * t + s) * c * 4 : ((long) bb * (width - 1) + (width - 1 + s)) * c * 4;
                    int ch = 0;
                    for (int bound = F.loopBound(c); ch < bound; ch += F.length()) {
                        FloatVector acc = FloatVector.zero(F);
                        for (int j = 0; j < width; j++) {
                            int tt = s + (width - 1) - j;
                            if (tt >= 0 && tt < t) {
                                acc = FloatVector.fromMemorySegment(F, dy, ((long) bb * t + tt) * c * 4 + ch * 4L, LE)
                                        .fma(FloatVector.fromArray(F, wt, j * c + ch), acc);
                            }
                        }
                        acc.intoMemorySegment(out, oo + ch * 4L, LE);
                    }
                    for (; ch < c; ch++) {
                        float g = 0;
                        for (int j = 0; j < width; j++) {
                            int tt = s + (width - 1) - j;
                            if (tt >= 0 && tt < t) {
                                g += wt[j * c + ch] * dy.get(Buf.F32, ((long) bb * t + tt) * c * 4 + ch * 4L);
                            }
                        }
                        out.set(Buf.F32, oo + ch * 4L, g);
                    }
                }
            });
        }
        if (dwb == null && dbiasb == null) {
            return;
        }
        MemorySegment dw = dwb == null ? null : dwb.requireF32("dw", (long) c * width).seg();
        MemorySegment db = dbiasb == null ? null : dbiasb.requireF32("dbias", c).seg();
        int grain = Math.max(F.length(), 256);
        Parallel.range((c + grain - 1) / grain, 1, (blo, bhi) -> {
            int c0 = blo * grain;
            int c1 = Math.min(c, bhi * grain);
            int n = c1 - c0;
            float[] accW = new float[width * n];
            float[] accB = new float[n];
            for (int bb = 0; bb < b; bb++) {
                for (int tt = 0; tt < t; tt++) {
                    long go = ((long) bb * t + tt) * c * 4;
                    for (int j = 0; j < width; j++) {
                        int s = tt - (width - 1) + j;
                        long from = src(bb, s, t, c, width, st != null);
                        if (from < 0) {
                            continue;
                        }
                        MemorySegment in = s >= 0 ? x : st;
                        int ch = c0;
                        for (int bound = c0 + F.loopBound(n); ch < bound; ch += F.length()) {
                            FloatVector g = FloatVector.fromMemorySegment(F, dy, go + ch * 4L, LE);
                            FloatVector v = FloatVector.fromMemorySegment(F, in, from + ch * 4L, LE);
                            g.fma(v, FloatVector.fromArray(F, accW, j * n + ch - c0)).intoArray(accW, j * n + ch - c0);
                        }
                        for (; ch < c1; ch++) {
                            accW[j * n + ch - c0] += dy.get(Buf.F32, go + ch * 4L) * in.get(Buf.F32, from + ch * 4L);
                        }
                    }
                    for (int ch = c0; ch < c1; ch++) {
                        accB[ch - c0] += dy.get(Buf.F32, go + ch * 4L);
                    }
                }
            }
            for (int ch = c0; ch < c1; ch++) {
                if (dw != null) {
                    for (int j = 0; j < width; j++) {
                        long o = ((long) ch * width + j) * 4;
                        dw.set(Buf.F32, o, dw.get(Buf.F32, o) + accW[j * n + ch - c0]);
                    }
                }
                if (db != null) {
                    db.setAtIndex(Buf.F32, ch, db.getAtIndex(Buf.F32, ch) + accB[ch - c0]);
                }
            }
        });
    }

    /** Tap-major lane indexes for {@link #step4}: lane i of tap j is element {@code 4i + j} of 8 channels' weights. */
    private static final FloatVector[] TAP_INDEX = new FloatVector[4];
    /** The low half of the first vector's lanes, then the low half of the second's. */
    private static final FloatVector LOW_HALVES;

    static {
        float[] idx = new float[F.length()];
        for (int j = 0; j < 4; j++) {
            for (int i = 0; i < idx.length; i++) {
                idx[i] = (4 * i + j) % (2 * idx.length);
            }
            TAP_INDEX[j] = FloatVector.fromArray(F, idx, 0);
        }
        for (int i = 0; i < idx.length; i++) {
            idx[i] = i < idx.length / 2 ? i : i + idx.length / 2;
        }
        LOW_HALVES = FloatVector.fromArray(F, idx, 0);
    }

    /**
     * One token. Window 4 takes {@link #step4}; other shapes, and the channels past the last whole vector, go one
     * channel at a time. (Until 2026-12-01 only 16-lane vectors took {@link #step4}, though nothing in it needs
     * 16: on an AVX2 machine `SsmBench.conv1dStep`, 2048 channels, took 38-40 us one channel at a time.)
     */
    @Override
    public void step(Buf xb, Buf wb, Buf bias, Buf stateb, Buf yb, int b, int c, int width) {
        MemorySegment x = xb.requireF32("x", (long) b * c).seg();
        MemorySegment w = wb.requireF32("w", (long) c * width).seg();
        MemorySegment bs = bias == null ? null : bias.requireF32("bias", c).seg();
        MemorySegment state = stateb.requireF32("state", (long) b * (width - 1) * c).seg();
        MemorySegment y = yb.requireF32("y", (long) b * c).seg();
        for (int bb = 0; bb < b; bb++) {
            long so = (long) bb * (width - 1) * c * 4;
            long xo = (long) bb * c * 4;
            int ch = 0;
            if (width == 4 && F.length() >= 4) {
                ch = step4(x, xo, w, bs, state, so, y, c);
            }
            for (; ch < c; ch++) {
                float xv = x.get(Buf.F32, xo + ch * 4L);
                float s = (bs == null ? 0f : bs.getAtIndex(Buf.F32, ch)) + w.getAtIndex(Buf.F32, (long) ch * width + width - 1) * xv;
                for (int j = 0; j < width - 1; j++) {
                    long at = so + ((long) j * c + ch) * 4;
                    s += w.getAtIndex(Buf.F32, (long) ch * width + j) * state.get(Buf.F32, at);
                    state.set(Buf.F32, at, j + 1 < width - 1 ? state.get(Buf.F32, at + c * 4L) : xv);
                }
                y.set(Buf.F32, xo + ch * 4L, s);
            }
        }
    }

    /**
     * Window 4, a vector's worth of channels at a time (16 with 16 lanes), with no copy of the weight: the (C, 4)
     * weight rows of those channels are four contiguous vectors, and two-vector permutes turn them into one vector
     * per tap (lane i = channel i's tap), three per tap. Returns the first channel left for the scalar loop.
     */
    private static int step4(MemorySegment x, long xo, MemorySegment w, MemorySegment bs, MemorySegment state, long so,
            MemorySegment y, int c) {
        int l = F.length();
        long row = c * 4L; // bytes between the window's slots
        long vb = l * 4L; // bytes per vector
        int ch = 0;
        for (int bound = F.loopBound(c); ch < bound; ch += l) {
            long wo = ch * 16L; // 4 taps of 4 bytes per channel
            FloatVector w0 = FloatVector.fromMemorySegment(F, w, wo, LE);
            FloatVector w1 = FloatVector.fromMemorySegment(F, w, wo + vb, LE);
            FloatVector w2 = FloatVector.fromMemorySegment(F, w, wo + 2 * vb, LE);
            FloatVector w3 = FloatVector.fromMemorySegment(F, w, wo + 3 * vb, LE);
            long at = so + ch * 4L;
            FloatVector s0 = FloatVector.fromMemorySegment(F, state, at, LE);
            FloatVector s1 = FloatVector.fromMemorySegment(F, state, at + row, LE);
            FloatVector s2 = FloatVector.fromMemorySegment(F, state, at + 2 * row, LE);
            FloatVector xv = FloatVector.fromMemorySegment(F, x, xo + ch * 4L, LE);
            FloatVector acc = bs == null ? FloatVector.zero(F) : FloatVector.fromMemorySegment(F, bs, ch * 4L, LE);
            acc = tap(w0, w1, w2, w3, 0).fma(s0, acc);
            acc = tap(w0, w1, w2, w3, 1).fma(s1, acc);
            acc = tap(w0, w1, w2, w3, 2).fma(s2, acc);
            acc = tap(w0, w1, w2, w3, 3).fma(xv, acc);
            s1.intoMemorySegment(state, at, LE);
            s2.intoMemorySegment(state, at + row, LE);
            xv.intoMemorySegment(state, at + 2 * row, LE);
            acc.intoMemorySegment(y, xo + ch * 4L, LE);
        }
        return ch;
    }

    /** Tap {@code j} of the channels whose weight rows are {@code w0..w3}: lane i = weight (4i + j). */
    private static FloatVector tap(FloatVector w0, FloatVector w1, FloatVector w2, FloatVector w3, int j) {
        FloatVector lo = TAP_INDEX[j].selectFrom(w0, w1); // the first half of the channels in the low lanes
        FloatVector hi = TAP_INDEX[j].selectFrom(w2, w3); // the second half in the low lanes
        return LOW_HALVES.selectFrom(lo, hi);
    }
}
