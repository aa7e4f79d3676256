// Causal grouped-query attention (ai.kestrel.kernels.attention.Attention), float32 throughout.
// Layouts: q, o, dO, dq (B, Tq, H, P); k, v, dk, dv (B, cap, KV, P) of which rows 0..Tk-1 are used;
// lse (B, H, Tq). Query head hh reads KV head hh / (H / KV); query row i sees keys 0..Tk-Tq+i.
//
// Tile kernels (prompts, backward) run 256 threads as a 16 x 16 grid (ta = tid / 16, tb = tid % 16); a thread owns
// the micro-tile rows ta + 16 * r and columns tb + 16 * c of every product. Tiles in shared memory are row-major
// over the head width with stride ld = roundup(P, 64) + 1 (odd: the 16 rows one warp reads at the same
// column fall in 16 different banks), columns P..roundup(P, 64) zero. The query tile is stored pre-multiplied by
// the scale, so scores are Qs . K and dK = dS^T . Qs need no further factor.
#include "common.cuh"

#define ATTN_THREADS 256
#define ATTN_ROW_THREADS 128
#define ATTN_ROW_KC 64

static __device__ __forceinline__ int attn_pp(int p) { return (p + 63) & ~63; }

// Element offset of query row i of head hh (q, o, dO, dq) and of key row j of KV head g (k, v, dk, dv).
static __device__ __forceinline__ long long attn_qoff(int bb, int i, int hh, int tq, int h, int p) {
    return (((long long)bb * tq + i) * h + hh) * p;
}
static __device__ __forceinline__ long long attn_koff(int bb, int j, int g, int cap, int kv, int p) {
    return (((long long)bb * cap + j) * kv + g) * p;
}

// rows x roundup(P, 64) tile of query rows i0.. of head hh (times mul) into s (stride ld); rows past tq zero.
static __device__ void attn_load_q(float* s, const float* x, int bb, int i0, int hh, int rows, int tq, int h, int p,
                                   float mul) {
    int pp = attn_pp(p), ld = pp + 1;
    for (int e = threadIdx.x; e < rows * pp; e += blockDim.x) {
        int r = e / pp, d = e - r * pp, i = i0 + r;
        s[r * ld + d] = (i < tq && d < p) ? x[attn_qoff(bb, i, hh, tq, h, p) + d] * mul : 0.f;
    }
}

// rows x roundup(P, 64) tile of key rows j0.. of KV head g into s (stride ld); rows at or past tk zero.
static __device__ void attn_load_k(float* s, const float* x, int bb, int j0, int g, int rows, int tk, int cap, int kv,
                                   int p) {
    int pp = attn_pp(p), ld = pp + 1;
    for (int e = threadIdx.x; e < rows * pp; e += blockDim.x) {
        int r = e / pp, d = e - r * pp, j = j0 + r;
        s[r * ld + d] = (j < tk && d < p) ? x[attn_koff(bb, j, g, cap, kv, p) + d] : 0.f;
    }
}

// acc[r][c] = sum_{d < n} A[(ta + 16 r) * lda + d] * B[(tb + 16 c) * ldb + d]   (A . B^T, both row-major)
template <int RA, int RB>
static __device__ __forceinline__ void attn_mm_nt(const float* A, int lda, const float* B, int ldb, int n, int ta, int tb,
                                                  float (&acc)[RA][RB]) {
#pragma unroll
    for (int r = 0; r < RA; r++)
#pragma unroll
        for (int c = 0; c < RB; c++) acc[r][c] = 0.f;
#pragma unroll 4
    for (int d = 0; d < n; d++) {
        float a[RA], b[RB];
#pragma unroll
        for (int r = 0; r < RA; r++) a[r] = A[(ta + 16 * r) * lda + d];
#pragma unroll
        for (int c = 0; c < RB; c++) b[c] = B[(tb + 16 * c) * ldb + d];
#pragma unroll
        for (int r = 0; r < RA; r++)
#pragma unroll
            for (int c = 0; c < RB; c++) acc[r][c] = fmaf(a[r], b[c], acc[r][c]);
    }
}

// C[(ta + 16 r) * ldc + d] = C * scale[row] (or kept when scale is null) + sum_{k < n} A[row * lda + k] * B[k * ldb + d]
// for every column d < pp (a multiple of 64), RA rows per thread, 4 columns per thread per 64-column pass.
// Each element of C belongs to one thread: no barrier needed between the read and the write.
template <int RA>
static __device__ __forceinline__ void attn_mm_nn_acc(float* C, int ldc, const float* rowScale, const float* A, int lda,
                                                      const float* B, int ldb, int n, int pp, int ta, int tb) {
    for (int d0 = 0; d0 < pp; d0 += 64) {
        float acc[RA][4];
#pragma unroll
        for (int r = 0; r < RA; r++)
#pragma unroll
            for (int c = 0; c < 4; c++) acc[r][c] = 0.f;
#pragma unroll 4
        for (int k = 0; k < n; k++) {
            float a[RA], b[4];
#pragma unroll
            for (int r = 0; r < RA; r++) a[r] = A[(ta + 16 * r) * lda + k];
#pragma unroll
            for (int c = 0; c < 4; c++) b[c] = B[k * ldb + d0 + tb + 16 * c];
#pragma unroll
            for (int r = 0; r < RA; r++)
#pragma unroll
                for (int c = 0; c < 4; c++) acc[r][c] = fmaf(a[r], b[c], acc[r][c]);
        }
#pragma unroll
        for (int r = 0; r < RA; r++) {
            int row = ta + 16 * r;
            float s = rowScale ? rowScale[row] : 1.f;
#pragma unroll
            for (int c = 0; c < 4; c++) {
                float* dst = &C[row * ldc + d0 + tb + 16 * c];
                *dst = fmaf(*dst, s, acc[r][c]);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Forward, tiled: one block per (64-query tile, query head, batch); key/value tiles of 32 rows stream through shared
// memory with the online softmax (running max m, running sum l, output accumulator rescaled by exp(m_old - m_new)).
// Dynamic shared memory: attn_fwd_smem(p) bytes (see AttentionCuda).
#define ATTN_FWD_BQ 64
#define ATTN_FWD_BK 32

extern "C" __global__ void __launch_bounds__(ATTN_THREADS)
attn_fwd_tile(const float* q, const float* k, const float* v, float* o, float* lse, int tq, int tk, int cap, int h,
              int kv, int p, float scale) {
    extern __shared__ float attn_sm[];
    const int BQ = ATTN_FWD_BQ, BK = ATTN_FWD_BK, LS = BK + 1;
    int pp = attn_pp(p), ld = pp + 1;
    float* Qs = attn_sm;             // BQ x ld
    float* Ks = Qs + BQ * ld;        // BK x ld
    float* Vs = Ks + BK * ld;        // BK x ld
    float* Os = Vs + BK * ld;        // BQ x pp
    float* Ss = Os + BQ * pp;        // BQ x LS
    float* ms = Ss + BQ * LS;        // BQ running max
    float* ls = ms + BQ;             // BQ running sum
    float* as = ls + BQ;             // BQ rescale factor of this tile

    int tid = threadIdx.x, ta = tid >> 4, tb = tid & 15, lane = tid & 31, warp = tid >> 5;
    int qt = gridDim.x - 1 - blockIdx.x; // the longest tiles first
    int hh = blockIdx.y, bb = blockIdx.z, g = hh / (h / kv);
    int i0 = qt * BQ, off = tk - tq;

    attn_load_q(Qs, q, bb, i0, hh, BQ, tq, h, p, scale);
    for (int e = tid; e < BQ * pp; e += ATTN_THREADS) Os[e] = 0.f;
    if (tid < BQ) {
        ms[tid] = -INFINITY;
        ls[tid] = 0.f;
    }
    int jEnd = off + min(i0 + BQ, tq); // keys the tile's last row sees, exclusive
    for (int j0 = 0; j0 < jEnd; j0 += BK) {
        __syncthreads(); // the previous tile's readers of Ks, Vs, Ss are done
        attn_load_k(Ks, k, bb, j0, g, BK, tk, cap, kv, p);
        attn_load_k(Vs, v, bb, j0, g, BK, tk, cap, kv, p);
        __syncthreads();
        float acc[4][2];
        attn_mm_nt<4, 2>(Qs, ld, Ks, ld, p, ta, tb, acc);
#pragma unroll
        for (int r = 0; r < 4; r++)
#pragma unroll
            for (int c = 0; c < 2; c++) {
                int row = ta + 16 * r, col = tb + 16 * c, j = j0 + col;
                Ss[row * LS + col] = (j < tk && j <= off + i0 + row) ? acc[r][c] : -INFINITY;
            }
        __syncthreads();
        // softmax over the tile, one warp per row (BK == 32: one score per lane)
        for (int row = warp; row < BQ; row += ATTN_THREADS / 32) {
            float s = Ss[row * LS + lane];
            float mOld = ms[row];
            float mNew = fmaxf(mOld, warp_max(s));
            float mSafe = mNew == -INFINITY ? 0.f : mNew; // a row with no key yet keeps zeros
            float e = expf(s - mSafe);
            float sum = warp_sum(e);
            Ss[row * LS + lane] = e;
            if (lane == 0) {
                float a = expf(mOld - mSafe);
                as[row] = a;
                ms[row] = mNew;
                ls[row] = ls[row] * a + sum;
            }
        }
        __syncthreads();
        attn_mm_nn_acc<4>(Os, pp, as, Ss, LS, Vs, ld, BK, pp, ta, tb);
    }
    __syncthreads();
    for (int e = tid; e < BQ * pp; e += ATTN_THREADS) {
        int r = e / pp, d = e - r * pp, i = i0 + r;
        if (i < tq && d < p) o[attn_qoff(bb, i, hh, tq, h, p) + d] = Os[e] / ls[r];
    }
    if (lse && tid < BQ && i0 + tid < tq) lse[((long long)bb * h + hh) * tq + i0 + tid] = ms[tid] + logf(ls[tid]);
}

// ---------------------------------------------------------------------------------------------------------------
// Forward, one query row per block (decoding, short chunks, and head widths whose tiles do not fit shared memory):
// grid (tq * ns, H, B), block ATTN_ROW_THREADS; block (i, split s) covers keys [s * chunk, (s + 1) * chunk) of row i's
// visible keys. Scores one warp per key (lanes over the head width); the value pass one thread per column.
// ns == 1 writes o and lse; otherwise each split writes (m, l, unnormalised o[P]) to part[(row * ns + s) * (P + 2)],
// row = (b * Tq + i) * H + hh, for attn_row_combine. Dynamic shared memory: (2 P + 2 ATTN_ROW_KC) floats.
extern "C" __global__ void __launch_bounds__(ATTN_ROW_THREADS)
attn_row(const float* q, const float* k, const float* v, float* o, float* lse, float* part, int tq, int tk, int cap,
         int h, int kv, int p, float scale, int ns, int chunk) {
    extern __shared__ float attn_sm[];
    float* qs = attn_sm;           // p, scaled query
    float* os = qs + p;            // p, output accumulator
    float* ss = os + p;            // ATTN_ROW_KC scores
    float* ps = ss + ATTN_ROW_KC;  // ATTN_ROW_KC probabilities
    const int NW = ATTN_ROW_THREADS / 32;
    int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    int i = blockIdx.x / ns, s = blockIdx.x - i * ns;
    int hh = blockIdx.y, bb = blockIdx.z, g = hh / (h / kv);
    long long qo = attn_qoff(bb, i, hh, tq, h, p);
    for (int d = tid; d < p; d += ATTN_ROW_THREADS) {
        qs[d] = q[qo + d] * scale;
        os[d] = 0.f;
    }
    int jBeg = s * chunk, jEnd = min(jBeg + chunk, tk - tq + i + 1);
    float m = -INFINITY, l = 0.f;
    for (int c0 = jBeg; c0 < jEnd; c0 += ATTN_ROW_KC) {
        int n = min(ATTN_ROW_KC, jEnd - c0);
        __syncthreads(); // qs written; the previous chunk's readers of ss, ps are done
        for (int c = warp; c < n; c += NW) {
            const float* kr = k + attn_koff(bb, c0 + c, g, cap, kv, p);
            float dot = 0.f;
            for (int d = lane; d < p; d += 32) dot = fmaf(qs[d], kr[d], dot);
            dot = warp_sum(dot);
            if (lane == 0) ss[c] = dot;
        }
        __syncthreads();
        float mx = -INFINITY;
        for (int c = 0; c < n; c++) mx = fmaxf(mx, ss[c]);
        float mNew = fmaxf(m, mx); // finite: the chunk has at least one key
        float alpha = expf(m - mNew);
        if (tid < n) ps[tid] = expf(ss[tid] - mNew);
        __syncthreads();
        float sum = 0.f;
        for (int c = 0; c < n; c++) sum += ps[c];
        l = l * alpha + sum;
        m = mNew;
        for (int d = tid; d < p; d += ATTN_ROW_THREADS) {
            const float* vc = v + attn_koff(bb, c0, g, cap, kv, p) + d;
            long long stride = (long long)kv * p;
            float acc = 0.f;
            for (int c = 0; c < n; c++) acc = fmaf(ps[c], vc[c * stride], acc);
            os[d] = os[d] * alpha + acc;
        }
    }
    long long row = ((long long)bb * tq + i) * h + hh;
    if (ns == 1) {
        for (int d = tid; d < p; d += ATTN_ROW_THREADS) o[qo + d] = os[d] / l;
        if (lse && tid == 0) lse[((long long)bb * h + hh) * tq + i] = m + logf(l);
    } else {
        float* pr = part + (row * ns + s) * (p + 2);
        for (int d = tid; d < p; d += ATTN_ROW_THREADS) pr[2 + d] = os[d];
        if (tid == 0) {
            pr[0] = m;
            pr[1] = l;
        }
    }
}

// Merges attn_row's ns splits of each row: grid (B * Tq * H), block ATTN_ROW_THREADS. Split 0 holds key 0, so the
// maximum over splits is finite; empty splits (m = -inf, l = 0) weigh zero.
extern "C" __global__ void __launch_bounds__(ATTN_ROW_THREADS)
attn_row_combine(const float* part, float* o, float* lse, int tq, int h, int p, int ns) {
    long long row = blockIdx.x;
    const float* pr = part + row * ns * (p + 2);
    float mx = -INFINITY;
    for (int s = 0; s < ns; s++) mx = fmaxf(mx, pr[s * (p + 2)]);
    float l = 0.f;
    for (int s = 0; s < ns; s++) l += pr[s * (p + 2) + 1] * expf(pr[s * (p + 2)] - mx);
    float inv = 1.f / l;
    for (int d = threadIdx.x; d < p; d += ATTN_ROW_THREADS) {
        float acc = 0.f;
        for (int s = 0; s < ns; s++) acc += pr[s * (p + 2) + 2 + d] * expf(pr[s * (p + 2)] - mx);
        o[row * p + d] = acc * inv;
    }
    if (lse && threadIdx.x == 0) {
        int hh = (int)(row % h);
        long long t = row / h;
        int i = (int)(t % tq);
        long long bb = t / tq;
        lse[(bb * h + hh) * tq + i] = mx + logf(l);
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Backward (FlashAttention-2's split). attn_bwd_dot: D[row] = sum_d dO[row, d] * O[row, d], one warp per query row
// (row = (b * Tq + i) * H + hh, the q layout's row order); grid ceil(rows / 8), block 256.
extern "C" __global__ void __launch_bounds__(ATTN_THREADS)
attn_bwd_dot(const float* dO, const float* o, float* D, long long rows, int p) {
    long long row = (long long)blockIdx.x * (ATTN_THREADS / 32) + (threadIdx.x >> 5);
    if (row >= rows) return;
    int lane = threadIdx.x & 31;
    const float* a = dO + row * p;
    const float* b = o + row * p;
    float s = 0.f;
    for (int d = lane; d < p; d += 32) s = fmaf(a[d], b[d], s);
    s = warp_sum(s);
    if (lane == 0) D[row] = s;
}

#define ATTN_BWD_B 32

// dq: one block per (32-query tile, query head, batch); for each 32-key tile: S = Qs . K^T, P = exp(S - lse),
// dP = dO . V^T, dS = P (dP - D), dq += dS . K; dq = scale * dq at the end.
// Dynamic shared memory: attn_bwd_dq_smem(p) bytes (see AttentionCuda).
extern "C" __global__ void __launch_bounds__(ATTN_THREADS)
attn_bwd_dq(const float* dO, const float* q, const float* k, const float* v, const float* lse, const float* D, float* dq,
            int tq, int tk, int cap, int h, int kv, int p, float scale) {
    extern __shared__ float attn_sm[];
    const int B = ATTN_BWD_B, LS = B + 1;
    int pp = attn_pp(p), ld = pp + 1;
    float* Qs = attn_sm;        // B x ld (scaled)
    float* dOs = Qs + B * ld;   // B x ld
    float* Ks = dOs + B * ld;   // B x ld
    float* Vs = Ks + B * ld;    // B x ld
    float* dQs = Vs + B * ld;   // B x pp
    float* Ss = dQs + B * pp;   // B x LS: dS
    float* Ls = Ss + B * LS;    // B: lse
    float* Ds = Ls + B;         // B: D

    int tid = threadIdx.x, ta = tid >> 4, tb = tid & 15;
    int qt = gridDim.x - 1 - blockIdx.x;
    int hh = blockIdx.y, bb = blockIdx.z, g = hh / (h / kv);
    int i0 = qt * B, off = tk - tq;

    attn_load_q(Qs, q, bb, i0, hh, B, tq, h, p, scale);
    attn_load_q(dOs, dO, bb, i0, hh, B, tq, h, p, 1.f);
    for (int e = tid; e < B * pp; e += ATTN_THREADS) dQs[e] = 0.f;
    if (tid < B) {
        int i = i0 + tid;
        Ls[tid] = i < tq ? lse[((long long)bb * h + hh) * tq + i] : 0.f;
        Ds[tid] = i < tq ? D[((long long)bb * tq + i) * h + hh] : 0.f;
    }
    int jEnd = off + min(i0 + B, tq);
    for (int j0 = 0; j0 < jEnd; j0 += B) {
        __syncthreads();
        attn_load_k(Ks, k, bb, j0, g, B, tk, cap, kv, p);
        attn_load_k(Vs, v, bb, j0, g, B, tk, cap, kv, p);
        __syncthreads();
        float s[2][2], dp[2][2];
        attn_mm_nt<2, 2>(Qs, ld, Ks, ld, p, ta, tb, s);
        attn_mm_nt<2, 2>(dOs, ld, Vs, ld, p, ta, tb, dp);
#pragma unroll
        for (int r = 0; r < 2; r++)
#pragma unroll
            for (int c = 0; c < 2; c++) {
                int row = ta + 16 * r, col = tb + 16 * c, i = i0 + row, j = j0 + col;
                bool ok = i < tq && j < tk && j <= off + i;
                float pr = ok ? expf(s[r][c] - Ls[row]) : 0.f;
                Ss[row * LS + col] = pr * (dp[r][c] - Ds[row]);
            }
        __syncthreads();
        attn_mm_nn_acc<2>(dQs, pp, nullptr, Ss, LS, Ks, ld, B, pp, ta, tb);
    }
    __syncthreads();
    for (int e = tid; e < B * pp; e += ATTN_THREADS) {
        int r = e / pp, d = e - r * pp, i = i0 + r;
        if (i < tq && d < p) dq[attn_qoff(bb, i, hh, tq, h, p) + d] = dQs[e] * scale;
    }
}

// dk, dv: one block per (32-key tile, KV head, batch), walking every query head of the group and every query tile
// that sees the keys: S^T = K . Qs^T, P^T = exp(S^T - lse), dP^T = V . dO^T, dS^T = P^T (dP^T - D);
// dv += P^T . dO, dk += dS^T . Qs (Qs carries the scale). Either output may be null.
// Dynamic shared memory: attn_bwd_dkdv_smem(p) bytes (see AttentionCuda).
extern "C" __global__ void __launch_bounds__(ATTN_THREADS)
attn_bwd_dkdv(const float* dO, const float* q, const float* k, const float* v, const float* lse, const float* D,
              float* dk, float* dv, int tq, int tk, int cap, int h, int kv, int p, float scale) {
    extern __shared__ float attn_sm[];
    const int B = ATTN_BWD_B, LS = B + 1;
    int pp = attn_pp(p), ld = pp + 1;
    float* Ks = attn_sm;        // B x ld
    float* Vs = Ks + B * ld;    // B x ld
    float* Qs = Vs + B * ld;    // B x ld (scaled)
    float* dOs = Qs + B * ld;   // B x ld
    float* dKs = dOs + B * ld;  // B x pp
    float* dVs = dKs + B * pp;  // B x pp
    float* Ps = dVs + B * pp;   // B x LS: P^T (keys x queries)
    float* dSs = Ps + B * LS;   // B x LS: dS^T
    float* Ls = dSs + B * LS;   // B: lse of the query tile
    float* Ds = Ls + B;         // B: D of the query tile

    int tid = threadIdx.x, ta = tid >> 4, tb = tid & 15;
    int kt = blockIdx.x, g = blockIdx.y, bb = blockIdx.z;
    int j0 = kt * B, off = tk - tq, group = h / kv;

    attn_load_k(Ks, k, bb, j0, g, B, tk, cap, kv, p);
    attn_load_k(Vs, v, bb, j0, g, B, tk, cap, kv, p);
    for (int e = tid; e < B * pp; e += ATTN_THREADS) {
        dKs[e] = 0.f;
        dVs[e] = 0.f;
    }
    int iBeg = max(0, j0 - off); // the first query row that sees key j0
    for (int hh = g * group; hh < (g + 1) * group; hh++) {
        for (int i0 = iBeg / B * B; i0 < tq; i0 += B) {
            __syncthreads(); // the previous tile's readers of Qs, dOs, Ps, dSs, Ls, Ds are done
            attn_load_q(Qs, q, bb, i0, hh, B, tq, h, p, scale);
            attn_load_q(dOs, dO, bb, i0, hh, B, tq, h, p, 1.f);
            if (tid < B) {
                int i = i0 + tid;
                Ls[tid] = i < tq ? lse[((long long)bb * h + hh) * tq + i] : 0.f;
                Ds[tid] = i < tq ? D[((long long)bb * tq + i) * h + hh] : 0.f;
            }
            __syncthreads();
            float s[2][2], dp[2][2];
            attn_mm_nt<2, 2>(Ks, ld, Qs, ld, p, ta, tb, s);
            attn_mm_nt<2, 2>(Vs, ld, dOs, ld, p, ta, tb, dp);
#pragma unroll
            for (int r = 0; r < 2; r++)
#pragma unroll
                for (int c = 0; c < 2; c++) {
                    int key = ta + 16 * r, qr = tb + 16 * c, j = j0 + key, i = i0 + qr;
                    bool ok = i < tq && j < tk && j <= off + i;
                    float pr = ok ? expf(s[r][c] - Ls[qr]) : 0.f;
                    Ps[key * LS + qr] = pr;
                    dSs[key * LS + qr] = pr * (dp[r][c] - Ds[qr]);
                }
            __syncthreads();
            attn_mm_nn_acc<2>(dVs, pp, nullptr, Ps, LS, dOs, ld, B, pp, ta, tb);
            attn_mm_nn_acc<2>(dKs, pp, nullptr, dSs, LS, Qs, ld, B, pp, ta, tb);
        }
    }
    __syncthreads();
    for (int e = tid; e < B * pp; e += ATTN_THREADS) {
        int r = e / pp, d = e - r * pp, j = j0 + r;
        if (j < tk && d < p) {
            long long ko = attn_koff(bb, j, g, cap, kv, p) + d;
            if (dk) dk[ko] = dKs[e];
            if (dv) dv[ko] = dVs[e];
        }
    }
}
