// Mamba-2 SSD scan kernels (ai.kestrel.kernels.ssd.SsdScan): the sequential recurrence, exact in float32 state.
// Per batch b and head h (group g = h / (H / G)), state S (P, N):
//   delta = softplus(dt[b,t,h] + dt_bias[h]);  S = exp(delta * A[h]) * S + delta * x[b,t,h,:] (x) B[b,t,g,:]
//   y[b,t,h,:] = S . C[b,t,g,:] + D[h] * x[b,t,h,:]
// Layouts: x, y, dy, dx (B, T, H, P); dt, ddt (B, T, H); Bm, Cm, dB, dC (B, T, G, N); states (B, H, P, N).
// A block owns one (b, h) and SSD_ROWS rows p of its state (one warp per row, lanes over the N columns: lane l
// holds columns l, l + 32, ...); the rows' state lives in shared memory, each element touched by one thread only.
// SSD_TILE time steps of B, C, x (and dy), delta and exp(delta * A) are staged in shared memory at a time.
#include "common.cuh"

#define SSD_ROWS 8
#define SSD_TILE 8

// Derivative of PyTorch's softplus (threshold 20).
static __device__ __forceinline__ float ssd_softplus_grad(float v) { return v > 20.f ? 1.f : 1.f / (1.f + expf(-v)); }

// Stages steps t0 .. t0 + len - 1 of (b, h): B rows into bs (TILE, N), C rows into cs when cs != NULL, x (and dy
// when ys != NULL) of rows p0 .. p0 + SSD_ROWS - 1 into xs, ys (TILE, SSD_ROWS) (zero past P), delta into dl,
// exp(delta * a) into dc, softplus'(dt + bias) into sg when sg != NULL. The caller synchronises before and after.
static __device__ void ssd_load_tile(const float* x, const float* dy, const float* dt, const float* Bm, const float* Cm,
                                     float bias, float a, int b, int h, int g, int p0, int t0, int len,
                                     int T, int H, int P, int G, int N,
                                     float* bs, float* cs, float* xs, float* ys, float* dl, float* dc, float* sg) {
    for (int i = threadIdx.x; i < len * N; i += blockDim.x) {
        int tt = i / N, k = i - tt * N;
        long long o = (((long long)b * T + t0 + tt) * G + g) * N + k;
        bs[i] = Bm[o];
        if (cs) cs[i] = Cm[o];
    }
    for (int i = threadIdx.x; i < len * SSD_ROWS; i += blockDim.x) {
        int tt = i / SSD_ROWS, pp = p0 + (i - tt * SSD_ROWS);
        long long o = (((long long)b * T + t0 + tt) * H + h) * P + pp;
        xs[i] = pp < P ? x[o] : 0.f;
        if (ys) ys[i] = pp < P ? dy[o] : 0.f;
    }
    for (int i = threadIdx.x; i < len; i += blockDim.x) {
        float pre = dt[((long long)b * T + t0 + i) * H + h] + bias;
        float delta = softplusf_(pre);
        dl[i] = delta;
        dc[i] = expf(delta * a);
        if (sg) sg[i] = ssd_softplus_grad(pre);
    }
}

// Shared floats ssd_forward needs for state width N.
#define SSD_FWD_SHARED(N) (SSD_ROWS * (N) + 2 * SSD_TILE * (N) + SSD_TILE * SSD_ROWS + 2 * SSD_TILE)

// Forward scan. Grid (B * H, ceil(P / SSD_ROWS)), block SSD_ROWS * 32 threads, SSD_FWD_SHARED(N) * 4 bytes of
// dynamic shared memory. dt_bias, D, s0, sT may be NULL. s0 == sT is allowed (the state updated in place: each
// element is read and written by the same thread), which is how one generation step runs (T = 1).
extern "C" __global__ void ssd_forward(const float* x, const float* dt, const float* dt_bias, const float* A,
                                       const float* Bm, const float* Cm, const float* D, const float* s0,
                                       float* y, float* sT, int T, int H, int P, int G, int N) {
    extern __shared__ float ssd_sm[];
    float* st = ssd_sm;                    // (SSD_ROWS, N)
    float* bs = st + SSD_ROWS * N;         // (SSD_TILE, N)
    float* cs = bs + SSD_TILE * N;         // (SSD_TILE, N)
    float* xs = cs + SSD_TILE * N;         // (SSD_TILE, SSD_ROWS)
    float* dl = xs + SSD_TILE * SSD_ROWS;  // (SSD_TILE)
    float* dc = dl + SSD_TILE;             // (SSD_TILE)
    const int bh = blockIdx.x, b = bh / H, h = bh % H, g = h / (H / G);
    const int w = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int p0 = blockIdx.y * SSD_ROWS, p = p0 + w;
    const bool active = p < P;
    const float a = A[h], bias = dt_bias ? dt_bias[h] : 0.f, dh = D ? D[h] : 0.f;
    const long long so = ((long long)bh * P + p) * N;
    float* srow = st + w * N;
    for (int k = lane; k < N; k += 32) srow[k] = (active && s0) ? s0[so + k] : 0.f;
    for (int t0 = 0; t0 < T; t0 += SSD_TILE) {
        const int len = min(SSD_TILE, T - t0);
        __syncthreads();
        ssd_load_tile(x, nullptr, dt, Bm, Cm, bias, a, b, h, g, p0, t0, len, T, H, P, G, N,
                      bs, cs, xs, nullptr, dl, dc, nullptr);
        __syncthreads();
        if (active) {
            for (int tt = 0; tt < len; tt++) {
                const float decay = dc[tt], xv = xs[tt * SSD_ROWS + w], coef = dl[tt] * xv;
                const float* brow = bs + tt * N;
                const float* crow = cs + tt * N;
                float acc = 0.f;
                for (int k = lane; k < N; k += 32) {
                    float s = fmaf(decay, srow[k], coef * brow[k]);
                    srow[k] = s;
                    acc = fmaf(s, crow[k], acc);
                }
                acc = warp_sum(acc);
                if (lane == 0) y[(((long long)b * T + t0 + tt) * H + h) * P + p] = fmaf(dh, xv, acc);
            }
        }
    }
    if (active && sT) {
        for (int k = lane; k < N; k += 32) sT[so + k] = srow[k];
    }
}

// Shared floats ssd_backward needs for state width N.
#define SSD_BWD_SHARED(N) (4 * SSD_ROWS * (N) + 2 * SSD_TILE * (N) + 2 * SSD_TILE * SSD_ROWS + 3 * SSD_TILE + 2 * SSD_ROWS)

// Backward scan; the final state's gradient is zero. Grid (B * H, ceil(P / SSD_ROWS)), block SSD_ROWS * 32 threads,
// SSD_BWD_SHARED(N) * 4 bytes of dynamic shared memory. Every output may be NULL.
//   dx, ds0: written. ddt, dB, dC: added to atomically, so the caller zeroes them first (several blocks share a
//   (b, t, h) of ddt when P > SSD_ROWS, and the heads of a group share dB, dC). dA, ddt_bias, dD: accumulated.
// Scratch: ck (B * H, ceil(T / K), P, N) holds the state before each K-step segment (a first forward pass);
// seg (B * H, K, P, N) holds the states after each step of the segment being walked back (recomputed from ck).
// Per step t, backwards: g += dy_t (x) C_t; dC_t += dy_t . S_t; dB_t += delta x_t . g; dx_t = D dy_t + delta g B_t;
// d(delta) = x_t . g B_t + decay A (g : S_{t-1}); dA += decay delta (g : S_{t-1}); g *= decay.
extern "C" __global__ void ssd_backward(const float* dy, const float* x, const float* dt, const float* dt_bias,
                                        const float* A, const float* Bm, const float* Cm, const float* D,
                                        const float* s0, float* dx, float* ddt, float* ddt_bias, float* dA,
                                        float* dB, float* dC, float* dD, float* ds0, float* ck, float* seg,
                                        int T, int H, int P, int G, int N, int K) {
    extern __shared__ float ssd_sm[];
    float* st = ssd_sm;                    // (SSD_ROWS, N) state
    float* gr = st + SSD_ROWS * N;         // (SSD_ROWS, N) state gradient
    float* rb = gr + SSD_ROWS * N;         // (SSD_ROWS, N) per-row dB terms of one step
    float* rc = rb + SSD_ROWS * N;         // (SSD_ROWS, N) per-row dC terms of one step
    float* bs = rc + SSD_ROWS * N;         // (SSD_TILE, N)
    float* cs = bs + SSD_TILE * N;         // (SSD_TILE, N)
    float* xs = cs + SSD_TILE * N;         // (SSD_TILE, SSD_ROWS)
    float* ys = xs + SSD_TILE * SSD_ROWS;  // (SSD_TILE, SSD_ROWS)
    float* dl = ys + SSD_TILE * SSD_ROWS;  // (SSD_TILE)
    float* dc = dl + SSD_TILE;             // (SSD_TILE)
    float* sg = dc + SSD_TILE;             // (SSD_TILE)
    float* wd = sg + SSD_TILE;             // (SSD_ROWS) per-row x . g B of one step
    float* wc = wd + SSD_ROWS;             // (SSD_ROWS) per-row g : S_{t-1} of one step
    const int bh = blockIdx.x, b = bh / H, h = bh % H, g = h / (H / G);
    const int w = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int p0 = blockIdx.y * SSD_ROWS, p = p0 + w;
    const int rows = min(SSD_ROWS, P - p0);
    const bool active = p < P;
    const float a = A[h], bias = dt_bias ? dt_bias[h] : 0.f, dh = D ? D[h] : 0.f;
    const int nseg = (T + K - 1) / K;
    float* srow = st + w * N;
    float* grow = gr + w * N;
    // ---- forward pass: the state before every K-th step into ck
    {
        const long long so = ((long long)bh * P + p) * N;
        for (int k = lane; k < N; k += 32) {
            srow[k] = (active && s0) ? s0[so + k] : 0.f;
            grow[k] = 0.f;
        }
    }
    for (int t0 = 0; t0 < T; t0 += SSD_TILE) {
        const int len = min(SSD_TILE, T - t0);
        __syncthreads();
        ssd_load_tile(x, nullptr, dt, Bm, nullptr, bias, a, b, h, g, p0, t0, len, T, H, P, G, N,
                      bs, nullptr, xs, nullptr, dl, dc, nullptr);
        __syncthreads();
        if (active) {
            for (int tt = 0; tt < len; tt++) {
                const int t = t0 + tt;
                if (t % K == 0) {
                    float* c = ck + (((long long)bh * nseg + t / K) * P + p) * N;
                    for (int k = lane; k < N; k += 32) c[k] = srow[k];
                }
                const float decay = dc[tt], coef = dl[tt] * xs[tt * SSD_ROWS + w];
                const float* brow = bs + tt * N;
                for (int k = lane; k < N; k += 32) srow[k] = fmaf(decay, srow[k], coef * brow[k]);
            }
        }
    }
    // ---- backward, one segment at a time from the last
    float acc_da = 0.f, acc_bias = 0.f, acc_dd = 0.f;
    for (int sgi = nseg - 1; sgi >= 0; sgi--) {
        const int c0 = sgi * K, clen = min(K, T - c0);
        const float* cks = ck + (((long long)bh * nseg + sgi) * P + p) * N;
        // recompute the segment's states into seg
        if (active) {
            for (int k = lane; k < N; k += 32) srow[k] = cks[k];
        }
        for (int t0 = c0; t0 < c0 + clen; t0 += SSD_TILE) {
            const int len = min(SSD_TILE, c0 + clen - t0);
            __syncthreads();
            ssd_load_tile(x, nullptr, dt, Bm, nullptr, bias, a, b, h, g, p0, t0, len, T, H, P, G, N,
                          bs, nullptr, xs, nullptr, dl, dc, nullptr);
            __syncthreads();
            if (active) {
                for (int tt = 0; tt < len; tt++) {
                    const float decay = dc[tt], coef = dl[tt] * xs[tt * SSD_ROWS + w];
                    const float* brow = bs + tt * N;
                    float* out = seg + (((long long)bh * K + (t0 + tt - c0)) * P + p) * N;
                    for (int k = lane; k < N; k += 32) {
                        float s = fmaf(decay, srow[k], coef * brow[k]);
                        srow[k] = s;
                        out[k] = s;
                    }
                }
            }
        }
        // walk the segment back, a tile at a time from its end
        for (int t1 = c0 + clen; t1 > c0; ) {
            const int len = min(SSD_TILE, t1 - c0), ts = t1 - len;
            __syncthreads();
            ssd_load_tile(x, dy, dt, Bm, Cm, bias, a, b, h, g, p0, ts, len, T, H, P, G, N,
                          bs, cs, xs, ys, dl, dc, sg);
            __syncthreads();
            for (int tt = len - 1; tt >= 0; tt--) {
                const int t = ts + tt, j = t - c0;
                const float delta = dl[tt], decay = dc[tt];
                if (active) {
                    const float xv = xs[tt * SSD_ROWS + w], dyv = ys[tt * SSD_ROWS + w];
                    const float* brow = bs + tt * N;
                    const float* crow = cs + tt * N;
                    const float* sa = seg + (((long long)bh * K + j) * P + p) * N;
                    const float* sb = j > 0 ? seg + (((long long)bh * K + j - 1) * P + p) * N : cks;
                    float* rbw = rb + w * N;
                    float* rcw = rc + w * N;
                    const float dbx = delta * xv;
                    float pgb = 0.f, pgs = 0.f;
                    for (int k = lane; k < N; k += 32) {
                        const float gv = fmaf(dyv, crow[k], grow[k]);
                        rcw[k] = dyv * sa[k];
                        rbw[k] = gv * dbx;
                        pgb = fmaf(gv, brow[k], pgb);
                        pgs = fmaf(gv, sb[k], pgs);
                        grow[k] = gv * decay;
                    }
                    pgb = warp_sum(pgb);
                    pgs = warp_sum(pgs);
                    if (lane == 0) {
                        if (dx) dx[(((long long)b * T + t) * H + h) * P + p] = fmaf(dh, dyv, delta * pgb);
                        wd[w] = xv * pgb;
                        wc[w] = pgs;
                        acc_dd = fmaf(dyv, xv, acc_dd);
                    }
                }
                __syncthreads();
                const long long bo = (((long long)b * T + t) * G + g) * N;
                for (int k = threadIdx.x; k < N; k += blockDim.x) {
                    float sbk = 0.f, sck = 0.f;
                    for (int r = 0; r < rows; r++) {
                        sbk += rb[r * N + k];
                        sck += rc[r * N + k];
                    }
                    if (dB) atomicAdd(dB + bo + k, sbk);
                    if (dC) atomicAdd(dC + bo + k, sck);
                }
                if (threadIdx.x == 0) {
                    float gd = 0.f, gc = 0.f;
                    for (int r = 0; r < rows; r++) {
                        gd += wd[r];
                        gc += wc[r];
                    }
                    gd = fmaf(gc * decay, a, gd);
                    acc_da = fmaf(gc * decay, delta, acc_da);
                    const float graw = gd * sg[tt];
                    if (ddt) atomicAdd(ddt + ((long long)b * T + t) * H + h, graw);
                    acc_bias += graw;
                }
                __syncthreads();
            }
            t1 = ts;
        }
    }
    if (active && ds0) {
        const long long so = ((long long)bh * P + p) * N;
        for (int k = lane; k < N; k += 32) ds0[so + k] = grow[k];
    }
    if (active && lane == 0 && dD) atomicAdd(dD + h, acc_dd);
    if (threadIdx.x == 0) {
        if (dA) atomicAdd(dA + h, acc_da);
        if (ddt_bias) atomicAdd(ddt_bias + h, acc_bias);
    }
}

// p[0 .. n) = 0.
extern "C" __global__ void ssd_zero(float* p, long long n) {
    KESTREL_GRID_STRIDE(i, n) p[i] = 0.f;
}

// ---- Chunked forward (ssdc_*): the same forward as ssd_forward, parallel over chunks of L steps.
// Within a chunk starting at t0 (len = min(L, T - t0) steps), with l_i = A * sum_{r<=i} delta_r:
//   y_i   = sum_{j<=i} (C_i.B_j) exp(l_i - l_j) delta_j x_j  +  exp(l_i) S.C_i  +  D x_i
//   S_end = exp(l_last) S  +  sum_j exp(l_last - l_j) delta_j x_j (x) B_j
// Four launches: ssdc_decay (delta, l), ssdc_chunk_state (each chunk's own state contribution dS_c),
// ssdc_pass (states across chunks, sequential over chunks; dS_c replaced by the state entering chunk c),
// ssdc_output (intra-chunk quadratic term plus the entering state's read). Plain float FMA on 16 x 16 tiles.
// Scratch: dl, ll (B * H, T); st (B * H, ceil(T / L), P, N).
#define SSDC_T 16   // tile edge (rows p, columns n, steps i, j)
#define SSDC_J 32   // steps per staged tile in ssdc_chunk_state
#define SSDC_K 32   // state columns per staged tile in ssdc_output

// delta and chunk-local cumulative l, per (b, h): grid (B * H), threads over the chunks.
extern "C" __global__ void ssdc_decay(const float* dt, const float* dt_bias, const float* A, float* dl, float* ll,
                                     int T, int H, int L) {
    const int bh = blockIdx.x, b = bh / H, h = bh % H;
    const float a = A[h], bias = dt_bias ? dt_bias[h] : 0.f;
    const int nc = (T + L - 1) / L;
    for (int c = threadIdx.x; c < nc; c += blockDim.x) {
        const int t0 = c * L, t1 = min(T, t0 + L);
        float cum = 0.f;
        for (int t = t0; t < t1; t++) {
            const float delta = softplusf_(dt[((long long)b * T + t) * H + h] + bias);
            cum = fmaf(delta, a, cum);
            dl[(long long)bh * T + t] = delta;
            ll[(long long)bh * T + t] = cum;
        }
    }
}

// dS_c[p][n] = sum_j exp(l_last - l_j) delta_j x_j[p] B_j[n]. Grid (B * H * nc, ceil(P / 16), ceil(N / 16)),
// block 256 threads: thread (p = tid / 16, n = tid % 16) of the tile.
extern "C" __global__ void ssdc_chunk_state(const float* x, const float* Bm, const float* dl, const float* ll,
                                           float* st, int T, int H, int P, int G, int N, int L) {
    __shared__ float ws[SSDC_J];
    __shared__ float xs[SSDC_J][SSDC_T];
    __shared__ float bs[SSDC_J][SSDC_T];
    const int nc = (T + L - 1) / L;
    const int bh = blockIdx.x / nc, c = blockIdx.x % nc, b = bh / H, h = bh % H, g = h / (H / G);
    const int t0 = c * L, len = min(L, T - t0);
    const int p0 = blockIdx.y * SSDC_T, n0 = blockIdx.z * SSDC_T;
    const int tp = threadIdx.x / SSDC_T, tn = threadIdx.x % SSDC_T;
    const float llast = ll[(long long)bh * T + t0 + len - 1];
    float acc = 0.f;
    for (int j0 = 0; j0 < len; j0 += SSDC_J) {
        const int jl = min(SSDC_J, len - j0);
        __syncthreads();
        for (int i = threadIdx.x; i < SSDC_J; i += blockDim.x) {
            const long long o = (long long)bh * T + t0 + j0 + i;
            ws[i] = i < jl ? expf(llast - ll[o]) * dl[o] : 0.f;
        }
        for (int i = threadIdx.x; i < SSDC_J * SSDC_T; i += blockDim.x) {
            const int jj = i / SSDC_T, k = i % SSDC_T, t = t0 + j0 + jj;
            const bool in = jj < jl;
            xs[jj][k] = (in && p0 + k < P) ? x[(((long long)b * T + t) * H + h) * P + p0 + k] : 0.f;
            bs[jj][k] = (in && n0 + k < N) ? Bm[(((long long)b * T + t) * G + g) * N + n0 + k] : 0.f;
        }
        __syncthreads();
        for (int jj = 0; jj < jl; jj++) acc = fmaf(ws[jj] * xs[jj][tp], bs[jj][tn], acc);
    }
    const int p = p0 + tp, n = n0 + tn;
    if (p < P && n < N) st[(((long long)bh * nc + c) * P + p) * N + n] = acc;
}

// Across chunks, per state element: S = s0; for each chunk c: (st[c], S) = (S, exp(l_last_c) S + st[c]); sT = S.
// Grid (B * H, ceil(P * N / 256)), block 256. s0, sT may be NULL.
extern "C" __global__ void ssdc_pass(const float* ll, const float* s0, float* st, float* sT,
                                     int T, int H, int P, int N, int L) {
    const int bh = blockIdx.x;
    const int e = blockIdx.y * blockDim.x + threadIdx.x;
    if (e >= P * N) return;
    const int nc = (T + L - 1) / L;
    const long long so = (long long)bh * P * N + e;
    float s = s0 ? s0[so] : 0.f;
    for (int c = 0; c < nc; c++) {
        const int last = min(T, (c + 1) * L) - 1;
        const long long o = ((long long)bh * nc + c) * P * N + e;
        const float ds = st[o];
        st[o] = s;
        s = fmaf(expf(ll[(long long)bh * T + last]), s, ds);
    }
    if (sT) sT[so] = s;
}

// y_i[p] = sum_{j<=i} (C_i.B_j) exp(l_i - l_j) delta_j x_j[p] + exp(l_i) sum_n S[p][n] C_i[n] + D x_i[p], S the
// state entering the chunk (st after ssdc_pass). Grid (B * H * nc, ceil(L / 16), ceil(P / 16)), block 256 threads:
// thread (i = tid / 16, p = tid % 16) of the output tile; thread (i = tid / 16, j = tid % 16) of the weight tile.
extern "C" __global__ void ssdc_output(const float* x, const float* Bm, const float* Cm, const float* D,
                                      const float* dl, const float* ll, const float* st, float* y,
                                      int T, int H, int P, int G, int N, int L) {
    __shared__ float cs[SSDC_T][SSDC_K + 1];  // C_i, a column tile
    __shared__ float bs[SSDC_T][SSDC_K + 1];  // B_j or S[p], a column tile
    __shared__ float ws[SSDC_T][SSDC_T + 1];  // weights (i, j)
    __shared__ float xs[SSDC_T][SSDC_T + 1];  // x_j[p]
    const int nc = (T + L - 1) / L;
    const int bh = blockIdx.x / nc, c = blockIdx.x % nc, b = bh / H, h = bh % H, g = h / (H / G);
    const int t0 = c * L, len = min(L, T - t0);
    const int i0 = blockIdx.y * SSDC_T, p0 = blockIdx.z * SSDC_T;
    if (i0 >= len) return;  // whole block: uniform
    const int ti = threadIdx.x / SSDC_T, tq = threadIdx.x % SSDC_T;
    const int il = min(SSDC_T, len - i0);
    const int i = i0 + ti;  // chunk-local step of this thread's row
    const float li = ti < il ? ll[(long long)bh * T + t0 + i] : 0.f;
    float acc = 0.f;
    // intra-chunk term, over j tiles up to the tile's last row
    for (int j0 = 0; j0 < i0 + il; j0 += SSDC_T) {
        const int jl = min(SSDC_T, len - j0);
        float cb = 0.f;
        for (int k0 = 0; k0 < N; k0 += SSDC_K) {
            __syncthreads();
            for (int e = threadIdx.x; e < SSDC_T * SSDC_K; e += blockDim.x) {
                const int r = e / SSDC_K, k = e % SSDC_K;
                const bool kin = k0 + k < N;
                cs[r][k] = (r < il && kin) ? Cm[(((long long)b * T + t0 + i0 + r) * G + g) * N + k0 + k] : 0.f;
                bs[r][k] = (r < jl && kin) ? Bm[(((long long)b * T + t0 + j0 + r) * G + g) * N + k0 + k] : 0.f;
            }
            __syncthreads();
            for (int k = 0; k < SSDC_K; k++) cb = fmaf(cs[ti][k], bs[tq][k], cb);
        }
        {
            const int j = j0 + tq;
            float w = 0.f;
            if (ti < il && tq < jl && j <= i) {
                const long long o = (long long)bh * T + t0 + j;
                w = cb * expf(li - ll[o]) * dl[o];
            }
            ws[ti][tq] = w;
            const int p = p0 + ti;  // x tile, loaded transposed: thread (p = ti, j = tq) writes xs[j][p]
            xs[tq][ti] = (tq < jl && p < P) ? x[(((long long)b * T + t0 + j) * H + h) * P + p] : 0.f;
        }
        __syncthreads();
        for (int jj = 0; jj < SSDC_T; jj++) acc = fmaf(ws[ti][jj], xs[jj][tq], acc);
    }
    // the entering state's read: sum_n C_i[n] S[p][n]
    const float* sp = st + ((long long)bh * nc + c) * P * N;
    float sc = 0.f;
    for (int k0 = 0; k0 < N; k0 += SSDC_K) {
        __syncthreads();
        for (int e = threadIdx.x; e < SSDC_T * SSDC_K; e += blockDim.x) {
            const int r = e / SSDC_K, k = e % SSDC_K;
            const bool kin = k0 + k < N;
            cs[r][k] = (r < il && kin) ? Cm[(((long long)b * T + t0 + i0 + r) * G + g) * N + k0 + k] : 0.f;
            bs[r][k] = (p0 + r < P && kin) ? sp[(long long)(p0 + r) * N + k0 + k] : 0.f;
        }
        __syncthreads();
        for (int k = 0; k < SSDC_K; k++) sc = fmaf(cs[ti][k], bs[tq][k], sc);
    }
    const int p = p0 + tq;
    if (ti < il && p < P) {
        const long long o = (((long long)b * T + t0 + i) * H + h) * P + p;
        const float dh = D ? D[h] : 0.f;
        y[o] = fmaf(dh, x[o], fmaf(expf(li), sc, acc));
    }
}
