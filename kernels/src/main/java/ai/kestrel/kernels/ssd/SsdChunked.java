package ai.kestrel.kernels.ssd;

import ai.kestrel.kernels.Vec;
import ai.kestrel.kernels.internal.Transpose;
import static ai.kestrel.kernels.Vec.F;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

/**
 * The chunked SSD algorithm for one (batch, head), on float arrays. Inputs of the head: {@code x (T, P)},
 * {@code dt (T)} raw, its group's {@code bm, cm (T, N)} and the per-chunk products {@code cb[c][i*L + j] =
 * C_{t0+i} · B_{t0+j}} (shared by all heads of a group). The state is kept transposed, {@code st[n*P + p]}.
 *
 * <p>Within a chunk starting at {@code t0}, with {@code l_i = A * sum_{r<=i} delta_r} (cumulative log decay):
 * <pre>
 *   y_i   = sum_{j<=i} (C_i·B_j) exp(l_i - l_j) delta_j x_j  +  exp(l_i) S·C_i  +  D x_i
 *   S_end = exp(l_last) S  +  sum_j exp(l_last - l_j) delta_j x_j ⊗ B_j
 * </pre>
 * Every sum is a small matrix product ({@link SmallGemm}): the quadratic intra-chunk form
 * {@code W (L, L) · X (L, P)}, the state read {@code (e^l ∘ C) (L, N) · S (N, P)} and the state write
 * {@code ((e^{l_L - l} δ) ∘ B)ᵀ (N, L) · X (L, P)}.
 */
final class SsdChunked {
    final int t;
    final int p;
    final int n;
    final int chunk;
    final float a;
    final float d;
    final float bias;

    SsdChunked(int t, int p, int n, int chunk, float a, float d, float bias) {
        this.t = t;
        this.p = p;
        this.n = n;
        this.chunk = chunk;
        this.a = a;
        this.d = d;
        this.bias = bias;
    }

    /**
     * A thread's scratch arrays for {@link #forward} and {@link #backward}, kept between heads and calls: allocated
     * afresh, each head's ~1 MB was zeroed by the allocator (2-3% of a forward+backward at Falcon-H1's shapes).
     * Their contents are undefined on entry; every array is written before it is read.
     */
    static final class Work {
        private static final ThreadLocal<Work> LOCAL = new ThreadLocal<>();
        final int t;
        final int p;
        final int n;
        final int chunk;
        final float[] delta;
        final float[] l;
        final float[] w;
        final float[] cs;
        final float[] bw;
        private float[][] states;
        final float[] st;
        final float[] gt;
        final float[] dDelta;
        final float[] dl;
        final float[] e;
        final float[] dyx;
        final float[] coef;
        final float[] wt;
        final float[] xt;
        final float[] spn;
        final float[] gpn;
        final float[] q;
        final float[] r;

        private Work(int t, int p, int n, int chunk) {
            this.t = t;
            this.p = p;
            this.n = n;
            this.chunk = chunk;
            int sq = chunk * chunk;
            delta = new float[t];
            l = new float[t];
            w = new float[sq];
            cs = new float[chunk * n];
            bw = new float[chunk * n];
            st = new float[n * p];
            gt = new float[n * p];
            dDelta = new float[t];
            dl = new float[chunk];
            e = new float[sq];
            dyx = new float[sq];
            coef = new float[sq];
            wt = new float[sq];
            xt = new float[p * chunk];
            spn = new float[p * n];
            gpn = new float[p * n];
            q = new float[chunk * n];
            r = new float[chunk * n];
        }

        /** The states entering each chunk (the backward's only: allocated on its first use). */
        float[][] states() {
            if (states == null) {
                states = new float[(t + chunk - 1) / chunk][n * p];
            }
            return states;
        }

        /** This thread's scratch for the scan's dimensions (made anew when they change). */
        static Work of(SsdChunked s) {
            Work k = LOCAL.get();
            if (k == null || k.t != s.t || k.p != s.p || k.n != s.n || k.chunk != s.chunk) {
                k = new Work(s.t, s.p, s.n, s.chunk);
                LOCAL.set(k);
            }
            return k;
        }
    }

    int chunks() {
        return (t + chunk - 1) / chunk;
    }

    /** {@code delta}, and {@code l} (cumulative within each chunk) for all positions. */
    void decays(float[] dt, float[] delta, float[] l) {
        for (int c = 0; c < chunks(); c++) {
            int t0 = c * chunk;
            float cum = 0;
            for (int i = t0; i < Math.min(t, t0 + chunk); i++) {
                delta[i] = Lanes.softplus(dt[i] + bias);
                cum += delta[i] * a;
                l[i] = cum;
            }
        }
    }

    /** {@code e[i*L + j] = exp(l_i - l_j)} for {@code j <= i < len}, zero above the diagonal. */
    void pairDecays(float[] l, int t0, int len, float[] e) {
        for (int i = 0; i < len; i++) {
            FloatVector li = FloatVector.broadcast(F, l[t0 + i]);
            int j = 0;
            for (; j + F.length() <= i + 1; j += F.length()) {
                Vec.exp(li.sub(FloatVector.fromArray(F, l, t0 + j))).intoArray(e, i * chunk + j);
            }
            for (; j <= i; j++) {
                e[i * chunk + j] = (float) Math.exp(l[t0 + i] - l[t0 + j]);
            }
            for (; j < len; j++) {
                e[i * chunk + j] = 0f;
            }
        }
    }

    /**
     * Forward over all chunks: writes {@code y (T, P)}; {@code st} enters as the initial state and leaves as the
     * final one. {@code states}, when not null, receives the state entering each chunk ({@code [c][N*P]}). With
     * {@code y} null only the states are carried (the backward's recomputation: the outputs' two products, about half
     * of a chunk's work, skipped).
     */
    void forward(float[] x, float[] dt, float[] bm, float[] cm, float[][] cb, float[] st, float[] y, float[][] states) {
        Work work = Work.of(this);
        float[] delta = work.delta;
        float[] l = work.l;
        decays(dt, delta, l);
        float[] w = work.w;
        float[] cs = work.cs;
        float[] bw = work.bw;
        for (int c = 0; c < chunks(); c++) {
            int t0 = c * chunk;
            int len = Math.min(chunk, t - t0);
            if (states != null) {
                System.arraycopy(st, 0, states[c], 0, n * p);
            }
            float[] m = cb[c];
            if (y != null) {
                outputs(x, cm, st, y, m, delta, l, t0, len, w, cs);
            }
            // the state leaving the chunk: S = exp(l_last) S + ((exp(l_last - l) delta) ∘ B)ᵀ X
            float last = l[t0 + len - 1];
            for (int j = 0; j < len; j++) {
                float f = (float) Math.exp(last - l[t0 + j]) * delta[t0 + j];
                for (int k = 0; k < n; k++) {
                    bw[j * n + k] = f * bm[(t0 + j) * n + k];
                }
            }
            Lanes.scale((float) Math.exp(last), st, 0, n * p);
            SmallGemm.run(bw, 0, 1, n, x, t0 * p, p, st, 0, p, n, len, p, SmallGemm.FULL);
        }
    }

    /**
     * Row {@code i} (at {@code row = i * chunk}) of the quadratic form's gradient over its pairs {@code j < cols = i + 1}:
     * with {@code me = (C_i·B_j) e_ij} and {@code t_ij = me δ_j dyx_ij}, subtracts {@code t_ij} from {@code dl[j]},
     * adds {@code me dyx_ij} to {@code dDelta[t0 + j]}, writes {@code wt = me δ_j} and {@code coef = e_ij δ_j dyx_ij},
     * and returns {@code sum_j t_ij} (the caller adds it to {@code dl[i]}). By vectors over j, in a method of its own
     * so that C2 compiles its vector calls inline (the scalar loop was 7% of a forward+backward, Zen 3).
     */
    private static float pairRow(int row, int cols, float[] m, float[] e, float[] dyx, float[] delta, int t0, float[] dl,
            float[] dDelta, float[] wt, float[] coef) {
        FloatVector sum = FloatVector.zero(F);
        int j = 0;
        for (int bound = F.loopBound(cols); j < bound; j += F.length()) {
            FloatVector dj = FloatVector.fromArray(F, delta, t0 + j);
            FloatVector ev = FloatVector.fromArray(F, e, row + j);
            FloatVector g = FloatVector.fromArray(F, dyx, row + j);
            FloatVector me = FloatVector.fromArray(F, m, row + j).mul(ev);
            FloatVector w = me.mul(dj);
            FloatVector tij = w.mul(g);
            sum = sum.add(tij);
            FloatVector.fromArray(F, dl, j).sub(tij).intoArray(dl, j);
            me.fma(g, FloatVector.fromArray(F, dDelta, t0 + j)).intoArray(dDelta, t0 + j);
            w.intoArray(wt, row + j);
            ev.mul(dj).mul(g).intoArray(coef, row + j);
        }
        float s = Vec.sum(sum);
        for (; j < cols; j++) {
            int ij = row + j;
            float dj = delta[t0 + j];
            float me = m[ij] * e[ij];
            float tij = me * dj * dyx[ij];
            s += tij;
            dl[j] -= tij;
            dDelta[t0 + j] += me * dyx[ij];
            wt[ij] = me * dj;
            coef[ij] = e[ij] * dj * dyx[ij];
        }
        return s;
    }

    /**
     * The outputs of the chunk at {@code t0}: {@code Y = D X + W X} (the quadratic form) {@code + (exp(l) ∘ C) S} (the
     * state entering it); {@code w} and {@code cs} are scratch.
     */
    private void outputs(float[] x, float[] cm, float[] st, float[] y, float[] m, float[] delta, float[] l, int t0, int len,
            float[] w, float[] cs) {
        // 1. the quadratic form: W[i][j] = (C_i·B_j) exp(l_i - l_j) delta_j, then Y = D X + W X
        pairDecays(l, t0, len, w);
        for (int i = 0; i < len; i++) {
            for (int j = 0; j <= i; j++) {
                w[i * chunk + j] *= m[i * chunk + j] * delta[t0 + j];
            }
            for (int q = 0; q < p; q++) {
                y[(t0 + i) * p + q] = d * x[(t0 + i) * p + q];
            }
        }
        SmallGemm.run(w, 0, chunk, 1, x, t0 * p, p, y, t0 * p, p, len, len, p, SmallGemm.LOWER);
        // 2. the state entering the chunk: Y += (exp(l) ∘ C) S
        for (int i = 0; i < len; i++) {
            float ei = (float) Math.exp(l[t0 + i]);
            for (int k = 0; k < n; k++) {
                cs[i * n + k] = ei * cm[(t0 + i) * n + k];
            }
        }
        SmallGemm.run(cs, 0, n, 1, st, 0, p, y, t0 * p, p, len, n, p, SmallGemm.FULL);
    }

    /**
     * Gradients of one head, each array written whole by {@link #backward} (what it holds on entry does not matter);
     * the per-head sums are added to {@code sums = {ddtBias, dA, dD}}.
     */
    record Grads(float[] dx, float[] ddt, float[] dB, float[] dC, float[] ds0, float[] sums) {
    }

    /**
     * Backward: recomputes the chunk-entering states, then walks the chunks backwards carrying {@code gt}, the
     * gradient of the state at the end of the current chunk (zero after the last). {@code st0} is the initial
     * state ({@code [n*P + p]}); {@code out.ds0} receives its gradient in the same layout.
     */
    void backward(float[] dy, float[] x, float[] dt, float[] bm, float[] cm, float[][] cb, float[] st0, Grads out) {
        int nc = chunks();
        Work work = Work.of(this);
        float[][] states = work.states();
        float[] st = work.st;
        System.arraycopy(st0, 0, st, 0, n * p);
        forward(x, dt, bm, cm, cb, st, null, states); // (also leaves delta and l in the work arrays)
        float[] delta = work.delta;
        float[] l = work.l;
        float[] gt = work.gt;
        java.util.Arrays.fill(gt, 0f);
        float[] dDelta = work.dDelta;
        java.util.Arrays.fill(dDelta, 0f);
        float[] dl = work.dl;
        float[] e = work.e;
        float[] dyx = work.dyx;
        float[] coef = work.coef;
        float[] wt = work.wt;
        float[] xt = work.xt;
        float[] spn = work.spn;
        float[] gpn = work.gpn;
        float[] q = work.q;
        float[] r = work.r;
        float[] bw = work.bw;
        float[] cs = work.cs;
        float[] dx = out.dx();
        float[] dB = out.dB();
        float[] dC = out.dC();
        double dA = 0;
        double dD = 0;
        double dBias = 0;
        for (int c = nc - 1; c >= 0; c--) {
            int t0 = c * chunk;
            int len = Math.min(chunk, t - t0);
            float[] s = states[c];
            float[] m = cb[c];
            java.util.Arrays.fill(dl, 0f);
            // 1. products the chunk needs: dyx = DY Xᵀ, q = DY S (q_i[n] = S[n]·dy_i), r = X GT (r_j[n] = GT[n]·x_j)
            // (transposes in registers by blocks: one value at a time was 5% of a forward+backward)
            Transpose.matrix(x, t0 * p, len, p, xt);
            // (only dyx_ij with j <= i is read: rows in halves, the first half's columns stop at its last row)
            int half = Math.min(len, Math.max(4, (len / 2 + 3) & -4));
            int set = SmallGemm.FULL | SmallGemm.SET;
            SmallGemm.run(dy, t0 * p, p, 1, xt, 0, len, dyx, 0, chunk, half, p, half, set);
            SmallGemm.run(dy, (t0 + half) * p, p, 1, xt, 0, len, dyx, half * chunk, chunk, len - half, p, len, set);
            Transpose.matrix(s, 0, n, p, spn);
            Transpose.matrix(gt, 0, n, p, gpn);
            SmallGemm.run(dy, t0 * p, p, 1, spn, 0, n, q, 0, n, len, p, n, set);
            SmallGemm.run(x, t0 * p, p, 1, gpn, 0, n, r, 0, n, len, p, n, set);
            // 2. through the intra-chunk quadratic form
            pairDecays(l, t0, len, e);
            for (int i = 0; i < len; i++) {
                float rowSum = pairRow(i * chunk, i + 1, m, e, dyx, delta, t0, dl, dDelta, wt, coef); // writes dl[j <= i]
                dl[i] += rowSum;
                java.util.Arrays.fill(wt, i * chunk + i + 1, i * chunk + len, 0f);
                java.util.Arrays.fill(coef, i * chunk + i + 1, i * chunk + len, 0f);
            }
            // (the chunk's first writes to its rows of dx, dC and dB: set, not added to)
            SmallGemm.run(wt, 0, 1, chunk, dy, t0 * p, p, dx, t0 * p, p, len, len, p, SmallGemm.UPPER | SmallGemm.SET);  // dx_j = sum_{i>=j} W_ij dy_i
            SmallGemm.run(coef, 0, chunk, 1, bm, t0 * n, n, dC, t0 * n, n, len, len, n, SmallGemm.LOWER | SmallGemm.SET); // dC_i = sum_j coef_ij B_j
            SmallGemm.run(coef, 0, 1, chunk, cm, t0 * n, n, dB, t0 * n, n, len, len, n, SmallGemm.UPPER | SmallGemm.SET); // dB_j = sum_{i>=j} coef_ij C_i
            // 3. through the state entering the chunk (the outputs read it)
            for (int i = 0; i < len; i++) {
                float ei = (float) Math.exp(l[t0 + i]);
                Lanes.axpy(ei, q, i * n, dC, (t0 + i) * n, n);
                dl[i] += ei * Lanes.dot(cm, (t0 + i) * n, q, i * n, n);
                for (int k = 0; k < n; k++) {
                    cs[i * n + k] = ei * cm[(t0 + i) * n + k];
                }
            }
            // 4. through the state leaving the chunk
            float last = l[t0 + len - 1];
            float eL = (float) Math.exp(last);
            for (int j = 0; j < len; j++) {
                float f = (float) Math.exp(last - l[t0 + j]);
                float dj = delta[t0 + j];
                int bo = (t0 + j) * n;
                for (int k = 0; k < n; k++) {
                    bw[j * n + k] = f * dj * bm[bo + k];
                }
                Lanes.axpy(f * dj, r, j * n, dB, bo, n);
                float br = Lanes.dot(bm, bo, r, j * n, n);
                dDelta[t0 + j] += f * br;
                float v = f * dj * br;
                dl[len - 1] += v;
                dl[j] -= v;
            }
            SmallGemm.run(bw, 0, n, 1, gt, 0, p, dx, t0 * p, p, len, n, p, SmallGemm.FULL); // dx_j += sum_n bw_jn GT[n]
            dl[len - 1] += eL * Lanes.dot(gt, 0, s, 0, n * p);
            // 5. the skip term
            for (int i = 0; i < len; i++) {
                Lanes.axpy(d, dy, (t0 + i) * p, dx, (t0 + i) * p, p);
                dD += dyx[i * chunk + i];
            }
            // 6. l = A * cumsum(delta): into delta and A, then through the softplus into raw dt
            float suffix = 0;
            float cum = 0;
            for (int i = 0; i < len; i++) {
                cum += delta[t0 + i];
            }
            for (int i = len - 1; i >= 0; i--) {
                suffix += dl[i];
                dDelta[t0 + i] += a * suffix;
                dA += dl[i] * cum;
                cum -= delta[t0 + i];
            }
            for (int i = 0; i < len; i++) {
                float graw = dDelta[t0 + i] * Lanes.softplusGrad(dt[t0 + i] + bias);
                out.ddt()[t0 + i] = graw;
                dBias += graw;
            }
            // 7. the gradient of the state entering this chunk: exp(l_last) GT + (exp(l) ∘ C)ᵀ DY
            Lanes.scale(eL, gt, 0, n * p);
            SmallGemm.run(cs, 0, 1, n, dy, t0 * p, p, gt, 0, p, n, len, p, SmallGemm.FULL);
        }
        System.arraycopy(gt, 0, out.ds0(), 0, n * p);
        out.sums()[0] += (float) dBias;
        out.sums()[1] += (float) dA;
        out.sums()[2] += (float) dD;
    }
}
