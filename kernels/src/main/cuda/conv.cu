// Causal depthwise conv1d (ai.kestrel.kernels.conv.CausalConv1d). Layouts: x, y, dy, dx (B, T, C) channels last;
// w, dw (C, W); bias, dbias (C); state0, state_out, dstate0, state (B, W-1, C). Input time s < 0 is read from
// state0 slot W-1+s, or is zero when state0 is NULL. Any optional pointer may be NULL. Consecutive threads take
// consecutive channels, so every load and store of a (B, T, C) or (B, W-1, C) tensor is coalesced.
#include "common.cuh"

// Input at time s of batch b, channel c: x when s >= 0, else state0 (or zero).
static __device__ __forceinline__ float conv_in(const float* x, const float* state0, long long b, int s, int c,
                                                int T, int C, int W) {
    if (s >= 0) return x[(b * T + s) * C + c];
    return state0 ? state0[(b * (W - 1) + (W - 1 + s)) * C + c] : 0.f;
}

// y[b,t,c] = bias[c] + sum_j w[c,j] * in(b, t-(W-1)+j, c): one thread per output element.
extern "C" __global__ void conv_forward(const float* x, const float* w, const float* bias, const float* state0,
                                        float* y, int B, int T, int C, int W) {
    long long total = (long long)B * T * C;
    KESTREL_GRID_STRIDE(i, total) {
        int c = (int)(i % C);
        long long row = i / C;
        int t = (int)(row % T);
        long long b = row / T;
        float s = bias ? bias[c] : 0.f;
        const float* wc = w + (long long)c * W;
        for (int j = 0; j < W; j++) s = fmaf(conv_in(x, state0, b, t - (W - 1) + j, c, T, C, W), wc[j], s);
        y[i] = s;
    }
}

// state_out[b,k,c] = in(b, T-(W-1)+k, c) for k < W-1: one thread per (b, c), slots in increasing k. Slot k reads
// state0 slot T+k >= k (or x), so state_out may be the same buffer as state0. Launch after conv_forward.
extern "C" __global__ void conv_state_out(const float* x, const float* state0, float* state_out, int B, int T, int C,
                                          int W) {
    long long total = (long long)B * C;
    KESTREL_GRID_STRIDE(i, total) {
        int c = (int)(i % C);
        long long b = i / C;
        for (int k = 0; k < W - 1; k++) {
            state_out[(b * (W - 1) + k) * C + c] = conv_in(x, state0, b, T - (W - 1) + k, c, T, C, W);
        }
    }
}

// Input gradients: for input time s in [-(W-1), T), g = sum_j w[c,j] * dy[b, s+(W-1)-j, c] over outputs inside
// [0, T); written to dx (s >= 0) or dstate0 (s < 0). One thread per (b, s, c) over B x (T+W-1) x C.
extern "C" __global__ void conv_backward_dx(const float* dy, const float* w, float* dx, float* dstate0, int B, int T,
                                            int C, int W) {
    int span = T + W - 1;
    long long total = (long long)B * span * C;
    KESTREL_GRID_STRIDE(i, total) {
        int c = (int)(i % C);
        long long row = i / C;
        int sp = (int)(row % span);
        long long b = row / span;
        int s = sp - (W - 1);
        float* out;
        long long o;
        if (s >= 0) {
            if (!dx) continue;
            out = dx;
            o = (b * T + s) * C + c;
        } else {
            if (!dstate0) continue;
            out = dstate0;
            o = (b * (W - 1) + sp) * C + c;
        }
        const float* wc = w + (long long)c * W;
        float g = 0.f;
        for (int j = 0; j < W; j++) {
            int t = s + (W - 1) - j;
            if (t >= 0 && t < T) g = fmaf(dy[(b * T + t) * C + c], wc[j], g);
        }
        out[o] = g;
    }
}

// Partial weight and bias gradients over a slice of the B*T rows. Block (32, 8): threadIdx.x a channel of
// blockIdx.x's 32, threadIdx.y one of 8 row lanes; blockIdx.y one of gridDim.y row slices (rows r = blockIdx.y*8 +
// threadIdx.y, stepping gridDim.y*8); blockIdx.z the tap j (j == W: the bias, sum of dy). The 8 row lanes are summed
// in order in shared memory and written to partial[(blockIdx.y * (W+1) + j) * C + c].
extern "C" __global__ void conv_backward_dw_partial(const float* dy, const float* x, const float* state0,
                                                    float* partial, int B, int T, int C, int W) {
    __shared__ float sh[8][32];
    int c = blockIdx.x * 32 + threadIdx.x;
    int j = blockIdx.z;
    long long rows = (long long)B * T;
    float acc = 0.f;
    if (c < C) {
        for (long long r = (long long)blockIdx.y * 8 + threadIdx.y; r < rows; r += (long long)gridDim.y * 8) {
            float g = dy[r * C + c];
            if (j == W) {
                acc += g;
            } else {
                long long b = r / T;
                int t = (int)(r % T);
                acc = fmaf(g, conv_in(x, state0, b, t - (W - 1) + j, c, T, C, W), acc);
            }
        }
    }
    sh[threadIdx.y][threadIdx.x] = acc;
    __syncthreads();
    if (threadIdx.y == 0 && c < C) {
        float s = 0.f;
        for (int k = 0; k < 8; k++) s += sh[k][threadIdx.x];
        partial[((long long)blockIdx.y * (W + 1) + j) * C + c] = s;
    }
}

// dw[c, j] += sum_p partial[p, j, c] (j < W) and dbias[c] += sum_p partial[p, W, c], the slices p in order (the
// result does not depend on timing). One thread per (j, c) over (W+1) x C.
extern "C" __global__ void conv_backward_dw_reduce(const float* partial, float* dw, float* dbias, int slices, int C,
                                                   int W) {
    long long total = (long long)(W + 1) * C;
    KESTREL_GRID_STRIDE(i, total) {
        int c = (int)(i % C);
        int j = (int)(i / C);
        float* dst = j < W ? (dw ? dw + (long long)c * W + j : nullptr) : (dbias ? dbias + c : nullptr);
        if (!dst) continue;
        float s = 0.f;
        for (int p = 0; p < slices; p++) s += partial[((long long)p * (W + 1) + j) * C + c];
        *dst += s;
    }
}

// One token: y[b,c] = bias[c] + sum_{j<W-1} w[c,j] * state[b,j,c] + w[c,W-1] * x[b,c], then the window shifts
// (state slot j takes slot j+1, the last slot takes x). One thread per (b, c), which owns its state column.
extern "C" __global__ void conv_step(const float* x, const float* w, const float* bias, float* state, float* y, int B,
                                     int C, int W) {
    long long total = (long long)B * C;
    KESTREL_GRID_STRIDE(i, total) {
        int c = (int)(i % C);
        long long b = i / C;
        float xv = x[i];
        const float* wc = w + (long long)c * W;
        float* st = state + b * (W - 1) * C + c;
        float s = bias ? bias[c] : 0.f;
        for (int j = 0; j < W - 1; j++) s = fmaf(wc[j], st[(long long)j * C], s);
        s = fmaf(wc[W - 1], xv, s);
        for (int j = 0; j + 1 < W - 1; j++) st[(long long)j * C] = st[(long long)(j + 1) * C];
        if (W > 1) st[(long long)(W - 2) * C] = xv;
        y[i] = s;
    }
}
