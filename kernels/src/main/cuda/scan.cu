// Mamba-1 selective scan (ai.kestrel.kernels.scan.SelectiveScan). Layouts: x, dt, y, dy, dx, ddt (B, T, Din);
// dt_bias, D, ddt_bias, dD (Din); A, dA (Din, N); Bm, Cm, dB, dC (B, T, N); h0, hT, dh0, h (B, Din, N). Optional
// pointers may be NULL (a missing h0 is zeros, a missing dt_bias or D is zero).
//
// Parallel layout shared by every kernel here: blocks of SCAN_THREADS threads, grid (ceil(Din / (SCAN_THREADS/L)), B).
// A channel's N states are split across a group of L lanes (L = the smallest power of two >= N, at most 32), one state
// per lane: lane j of a group holds h[j]. Groups never straddle a warp, so y = sum_n h[n] C[n] is a shuffle sum over
// the group. Lanes past N, and groups past Din, run the loops with zeros so every shuffle sees a full warp.
#include "common.cuh"

#define SCAN_THREADS 256
#define SCAN_CHUNK 32

// Sum over the L lanes of a group (L a power of two <= 32).
static __device__ __forceinline__ float scan_group_sum(float v, int L) {
    for (int o = L >> 1; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

// Sum over the groups of a warp, lane j of every group into lane j of each (the same state index n across the
// warp's 32/L channels).
static __device__ __forceinline__ float scan_warp_groups_sum(float v, int L) {
    for (int o = 16; o >= L; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

// Derivative of PyTorch's softplus (threshold 20).
static __device__ __forceinline__ float scan_softplus_grad(float v) { return v > 20.f ? 1.f : 1.f / (1.f + expf(-v)); }

// The thread's place: batch b, channel d (dv: d < din), state index k = lane j (kv: also k < n).
struct ScanLane {
    long long b;
    int d, j;
    bool dv, kv;
};

static __device__ __forceinline__ ScanLane scan_lane(int din, int n, int L) {
    ScanLane s;
    s.j = threadIdx.x & (L - 1);
    s.d = blockIdx.x * (blockDim.x / L) + threadIdx.x / L;
    s.b = blockIdx.y;
    s.dv = s.d < din;
    s.kv = s.dv && s.j < n;
    return s;
}

// Forward over T steps: h = exp(delta A) h + delta B x; y = C.h + D x; hT (when given) the final state.
extern "C" __global__ void __launch_bounds__(SCAN_THREADS)
scan_forward(const float* x, const float* dt, const float* dt_bias, const float* A, const float* Bm, const float* Cm,
             const float* D, const float* h0, float* y, float* hT, int T, int din, int n, int L) {
    ScanLane s = scan_lane(din, n, L);
    int k = s.j;
    long long hi = (s.b * din + s.d) * n + k;
    float a = s.kv ? A[(long long)s.d * n + k] : 0.f;
    float bias = s.dv && dt_bias ? dt_bias[s.d] : 0.f;
    float dskip = s.dv && D ? D[s.d] : 0.f;
    float h = s.kv && h0 ? h0[hi] : 0.f;
    for (int t = 0; t < T; t++) {
        long long row = s.b * T + t;
        long long xi = row * din + s.d;
        float xv = s.dv ? x[xi] : 0.f;
        float delta = s.dv ? softplusf_(dt[xi] + bias) : 0.f;
        float part = 0.f;
        if (s.kv) {
            h = expf(delta * a) * h + delta * Bm[row * n + k] * xv;
            part = h * Cm[row * n + k];
        }
        part = scan_group_sum(part, L);
        if (s.dv && s.j == 0) y[xi] = fmaf(dskip, xv, part);
    }
    if (s.kv && hT) hT[hi] = h;
}

// One token: x, dt, y (B, Din); Bm, Cm (B, N); h (B, Din, N) updated in place (each lane owns its state).
extern "C" __global__ void __launch_bounds__(SCAN_THREADS)
scan_step(const float* x, const float* dt, const float* dt_bias, const float* A, const float* Bm, const float* Cm,
          const float* D, float* h, float* y, int din, int n, int L) {
    ScanLane s = scan_lane(din, n, L);
    int k = s.j;
    long long xi = s.b * din + s.d;
    float xv = s.dv ? x[xi] : 0.f;
    float delta = s.dv ? softplusf_(dt[xi] + (dt_bias ? dt_bias[s.d] : 0.f)) : 0.f;
    float part = 0.f;
    if (s.kv) {
        long long hi = xi * n + k;
        float hv = expf(delta * A[(long long)s.d * n + k]) * h[hi] + delta * Bm[s.b * n + k] * xv;
        h[hi] = hv;
        part = hv * Cm[s.b * n + k];
    }
    part = scan_group_sum(part, L);
    if (s.dv && s.j == 0) y[xi] = fmaf(D ? D[s.d] : 0.f, xv, part);
}

// Sets n floats to zero (dB and dC, which the backward accumulates into).
extern "C" __global__ void scan_zero(float* p, long long n) {
    KESTREL_GRID_STRIDE(i, n) p[i] = 0.f;
}

// Backward, the final state's gradient taken as zero. Chunked recomputation:
//  1. forward over the first (chunks-1)*SCAN_CHUNK steps, saving the state at the start of every chunk c to
//     ck[((b * chunks + c) * din + d) * n + k] (global scratch of B * chunks * Din * N floats);
//  2. chunks from last to first: the chunk's states are recomputed from its checkpoint into shared memory
//     (hs[step][thread], each thread its own column), then time walks backwards through the chunk with gh = dL/dh:
//     gh += dy C; dC += dy h_t; dB += gh delta x; dx = D dy + sum_n gh delta B; ddt = softplus'(pre) *
//     sum_n gh (A exp(delta A) h_{t-1} + B x); dA += gh exp(delta A) delta h_{t-1}; gh *= exp(delta A).
// dB and dC sum over channels: per step a shuffle sum over the warp's groups, shared-memory atomics across the
// block's warps for the chunk, then one global atomic per (t, n) and block (dB, dC must be zero on entry). dA,
// ddt_bias and dD sum over time in registers and are added with one atomic per (batch, channel) at the end.
extern "C" __global__ void __launch_bounds__(SCAN_THREADS)
scan_backward(const float* dy, const float* x, const float* dt, const float* dt_bias, const float* A, const float* Bm,
              const float* Cm, const float* D, const float* h0, float* dx, float* ddt, float* ddt_bias, float* dA,
              float* dB, float* dC, float* dD, float* dh0, float* ck, int T, int din, int n, int L) {
    __shared__ float hs[SCAN_CHUNK][SCAN_THREADS];
    __shared__ float sB[SCAN_CHUNK][32];
    __shared__ float sC[SCAN_CHUNK][32];
    ScanLane s = scan_lane(din, n, L);
    int k = s.j;
    int chunks = (T + SCAN_CHUNK - 1) / SCAN_CHUNK;
    long long hi = (s.b * din + s.d) * n + k;
    float a = s.kv ? A[(long long)s.d * n + k] : 0.f;
    float bias = s.dv && dt_bias ? dt_bias[s.d] : 0.f;
    float dskip = s.dv && D ? D[s.d] : 0.f;
    bool sumBC = dB != nullptr || dC != nullptr;
    for (int i = threadIdx.x; i < SCAN_CHUNK * 32; i += blockDim.x) {
        sB[i / 32][i % 32] = 0.f;
        sC[i / 32][i % 32] = 0.f;
    }
    __syncthreads();

    // 1. checkpoints
    if (s.kv && chunks > 0) {
        float h = h0 ? h0[hi] : 0.f;
        ck[((s.b * chunks) * din + s.d) * n + k] = h;
        for (int t = 0; t < (chunks - 1) * SCAN_CHUNK; t++) {
            long long row = s.b * T + t;
            long long xi = row * din + s.d;
            float delta = softplusf_(dt[xi] + bias);
            h = expf(delta * a) * h + delta * Bm[row * n + k] * x[xi];
            if ((t + 1) % SCAN_CHUNK == 0) ck[((s.b * chunks + (t + 1) / SCAN_CHUNK) * din + s.d) * n + k] = h;
        }
    }

    // 2. chunks backwards
    float gh = 0.f, accA = 0.f, accBias = 0.f, accD = 0.f;
    for (int c = chunks - 1; c >= 0; c--) {
        int t0 = c * SCAN_CHUNK;
        int t1 = min(T, t0 + SCAN_CHUNK);
        float hc = s.kv ? ck[((s.b * chunks + c) * din + s.d) * n + k] : 0.f;
        if (s.kv) {
            float h = hc;
            for (int t = t0; t < t1; t++) {
                long long row = s.b * T + t;
                long long xi = row * din + s.d;
                float delta = softplusf_(dt[xi] + bias);
                h = expf(delta * a) * h + delta * Bm[row * n + k] * x[xi];
                hs[t - t0][threadIdx.x] = h;
            }
        }
        for (int t = t1 - 1; t >= t0; t--) {
            long long row = s.b * T + t;
            long long xi = row * din + s.d;
            float xv = s.dv ? x[xi] : 0.f;
            float g = s.dv ? dy[xi] : 0.f;
            float pre = s.dv ? dt[xi] + bias : 0.f;
            float delta = softplusf_(pre);
            float gxp = 0.f, gdp = 0.f, cB = 0.f, cC = 0.f;
            if (s.kv) {
                float bk = Bm[row * n + k];
                float ckv = Cm[row * n + k];
                float decay = expf(delta * a);
                float hAfter = hs[t - t0][threadIdx.x];
                float hBefore = t > t0 ? hs[t - t0 - 1][threadIdx.x] : hc;
                gh += g * ckv; // dL/dh_t: from y_t, plus what flowed back from h_{t+1}
                cC = g * hAfter;
                cB = gh * delta * xv;
                gxp = gh * delta * bk;
                gdp = gh * (a * decay * hBefore + bk * xv);
                accA += gh * decay * delta * hBefore;
                gh *= decay; // now dL/dh_{t-1}
            }
            gxp = scan_group_sum(gxp, L);
            gdp = scan_group_sum(gdp, L);
            if (s.dv && s.j == 0) {
                float graw = gdp * scan_softplus_grad(pre);
                if (dx) dx[xi] = fmaf(dskip, g, gxp);
                if (ddt) ddt[xi] = graw;
                accBias += graw;
                accD += g * xv;
            }
            if (sumBC) {
                cB = scan_warp_groups_sum(cB, L);
                cC = scan_warp_groups_sum(cC, L);
                if ((threadIdx.x & 31) < L && k < n) {
                    atomicAdd(&sB[t - t0][k], cB);
                    atomicAdd(&sC[t - t0][k], cC);
                }
            }
        }
        if (sumBC) {
            __syncthreads();
            for (int i = threadIdx.x; i < (t1 - t0) * n; i += blockDim.x) {
                int tl = i / n, kk = i % n;
                long long o = (s.b * T + t0 + tl) * n + kk;
                if (dB) atomicAdd(dB + o, sB[tl][kk]);
                if (dC) atomicAdd(dC + o, sC[tl][kk]);
                sB[tl][kk] = 0.f;
                sC[tl][kk] = 0.f;
            }
            __syncthreads();
        }
    }
    if (s.kv) {
        if (dh0) dh0[hi] = gh;
        if (dA) atomicAdd(dA + (long long)s.d * n + k, accA);
    }
    if (s.dv && s.j == 0) {
        if (ddt_bias) atomicAdd(ddt_bias + s.d, accBias);
        if (dD) atomicAdd(dD + s.d, accD);
    }
}
