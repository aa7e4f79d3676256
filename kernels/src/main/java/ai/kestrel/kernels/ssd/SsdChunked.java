package ai.kestrel.kernels.ssd;

/**
 * The chunked SSD algorithm for one (batch, head), on float arrays. Inputs of the head: {@code x (T, P)},
 * {@code dt (T)} raw, its group's {@code bm, cm (T, N)} and the per-chunk products {@code cb[c][i*L + j] =
 * C_{t0+i} · B_{t0+j}} (shared by all heads of a group). The state is kept transposed, {@code st[n*P + p]},
 * so every update is an axpy over the head width.
 *
 * <p>Within a chunk starting at {@code t0}, with {@code l_i = A * sum_{r<=i} delta_r} (cumulative log decay):
 * <pre>
 *   y_i   = sum_{j<=i} (C_i·B_j) exp(l_i - l_j) delta_j x_j  +  exp(l_i) S·C_i  +  D x_i
 *   S_end = exp(l_last) S  +  sum_j exp(l_last - l_j) delta_j x_j ⊗ B_j
 * </pre>
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

    /**
     * Forward over all chunks: writes {@code y (T, P)}; {@code st} enters as the initial state and leaves as the
     * final one. {@code states}, when not null, receives the state entering each chunk ({@code [c][N*P]}).
     */
    void forward(float[] x, float[] dt, float[] bm, float[] cm, float[][] cb, float[] st, float[] y, float[][] states) {
        float[] delta = new float[t];
        float[] l = new float[t];
        decays(dt, delta, l);
        for (int c = 0; c < chunks(); c++) {
            int t0 = c * chunk;
            int len = Math.min(chunk, t - t0);
            if (states != null) {
                System.arraycopy(st, 0, states[c], 0, n * p);
            }
            float[] m = cb[c];
            // 1. outputs: skip term, intra-chunk quadratic form, entering state
            for (int i = 0; i < len; i++) {
                int yo = (t0 + i) * p;
                for (int q = 0; q < p; q++) {
                    y[yo + q] = d * x[yo + q];
                }
                float li = l[t0 + i];
                for (int j = 0; j <= i; j++) {
                    float w = m[i * chunk + j] * (float) Math.exp(li - l[t0 + j]) * delta[t0 + j];
                    Lanes.axpy(w, x, (t0 + j) * p, y, yo, p);
                }
                float ei = (float) Math.exp(li);
                int co = (t0 + i) * n;
                for (int k = 0; k < n; k++) {
                    Lanes.axpy(ei * cm[co + k], st, k * p, y, yo, p);
                }
            }
            // 2. pass the state to the next chunk
            float last = l[t0 + len - 1];
            Lanes.scale((float) Math.exp(last), st, 0, n * p);
            for (int j = 0; j < len; j++) {
                float f = (float) Math.exp(last - l[t0 + j]) * delta[t0 + j];
                int bo = (t0 + j) * n;
                for (int k = 0; k < n; k++) {
                    Lanes.axpy(f * bm[bo + k], x, (t0 + j) * p, st, k * p, p);
                }
            }
        }
    }

    /** Gradients of one head; the per-head sums go to {@code sums = {ddtBias, dA, dD}}. */
    record Grads(float[] dx, float[] ddt, float[] dB, float[] dC, float[] ds0, float[] sums) {
    }

    /**
     * Backward: recomputes the chunk-entering states, then walks the chunks backwards carrying {@code gt},
     * the gradient of the state at the end of the current chunk (zero after the last). {@code st0} is the
     * initial state ({@code [n*P + p]}); {@code out.ds0} receives its gradient in the same layout.
     */
    void backward(float[] dy, float[] x, float[] dt, float[] bm, float[] cm, float[][] cb, float[] st0, Grads out) {
        int nc = chunks();
        float[][] states = new float[nc][n * p];
        float[] st = st0.clone();
        forward(x, dt, bm, cm, cb, st, new float[t * p], states);
        float[] delta = new float[t];
        float[] l = new float[t];
        decays(dt, delta, l);
        float[] gt = new float[n * p];
        float[] gtNext = new float[n * p];
        float[] dDelta = new float[t];
        float[] dl = new float[chunk];
        float[] dyx = new float[chunk * chunk];
        float[] q = new float[chunk * n];
        float[] r = new float[chunk * n];
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
            // 1. dot products the chunk needs: dy_i·x_j, S[n]·dy_i, GT[n]·x_j
            for (int i = 0; i < len; i++) {
                for (int j = 0; j <= i; j++) {
                    dyx[i * chunk + j] = Lanes.dot(dy, (t0 + i) * p, x, (t0 + j) * p, p);
                }
                for (int k = 0; k < n; k++) {
                    q[i * n + k] = Lanes.dot(s, k * p, dy, (t0 + i) * p, p);
                    r[i * n + k] = Lanes.dot(gt, k * p, x, (t0 + i) * p, p);
                }
            }
            // 2. through the intra-chunk quadratic form
            for (int i = 0; i < len; i++) {
                float li = l[t0 + i];
                for (int j = 0; j <= i; j++) {
                    float e = (float) Math.exp(li - l[t0 + j]);
                    float mij = m[i * chunk + j];
                    float dj = delta[t0 + j];
                    float g = dyx[i * chunk + j];
                    float tij = mij * e * dj * g;
                    dl[i] += tij;
                    dl[j] -= tij;
                    dDelta[t0 + j] += mij * e * g;
                    Lanes.axpy(mij * e * dj, dy, (t0 + i) * p, dx, (t0 + j) * p, p);
                    float coef = e * dj * g;
                    Lanes.axpy(coef, bm, (t0 + j) * n, dC, (t0 + i) * n, n);
                    Lanes.axpy(coef, cm, (t0 + i) * n, dB, (t0 + j) * n, n);
                }
            }
            // 3. through the state entering the chunk (outputs read it)
            for (int i = 0; i < len; i++) {
                float ei = (float) Math.exp(l[t0 + i]);
                Lanes.axpy(ei, q, i * n, dC, (t0 + i) * n, n);
                dl[i] += ei * Lanes.dot(cm, (t0 + i) * n, q, i * n, n);
            }
            // 4. through the state leaving the chunk
            float last = l[t0 + len - 1];
            float eL = (float) Math.exp(last);
            for (int j = 0; j < len; j++) {
                float f = (float) Math.exp(last - l[t0 + j]);
                float dj = delta[t0 + j];
                int bo = (t0 + j) * n;
                for (int k = 0; k < n; k++) {
                    Lanes.axpy(f * dj * bm[bo + k], gt, k * p, dx, (t0 + j) * p, p);
                }
                Lanes.axpy(f * dj, r, j * n, dB, bo, n);
                float br = Lanes.dot(bm, bo, r, j * n, n);
                dDelta[t0 + j] += f * br;
                float v = f * dj * br;
                dl[len - 1] += v;
                dl[j] -= v;
            }
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
            // 7. the gradient of the state entering this chunk becomes the next (earlier) chunk's gt
            System.arraycopy(gt, 0, gtNext, 0, n * p);
            Lanes.scale(eL, gtNext, 0, n * p);
            for (int i = 0; i < len; i++) {
                float ei = (float) Math.exp(l[t0 + i]);
                int co = (t0 + i) * n;
                for (int k = 0; k < n; k++) {
                    Lanes.axpy(ei * cm[co + k], dy, (t0 + i) * p, gtNext, k * p, p);
                }
            }
            float[] tmp = gt;
            gt = gtNext;
            gtNext = tmp;
        }
        System.arraycopy(gt, 0, out.ds0(), 0, n * p);
        out.sums()[0] += (float) dBias;
        out.sums()[1] += (float) dA;
        out.sums()[2] += (float) dD;
    }
}
