// RMSNorm and Mamba-2's gated, grouped RMSNorm (ai.kestrel.kernels.norm). Row statistics one block per row (or
// per row and group), float accumulation; the weight gradients one thread per column over a chunk of rows,
// added into dw with atomicAdd (dw accumulates by contract).
#include "common.cuh"

// Rows per (column block, row chunk) of the weight-gradient kernels.
#define NORM_DW_ROWS 64

// y = w * x * rstd, rstd = 1 / sqrt(mean(x^2) + eps), row blockIdx.x of (rows, d); rstd may be NULL; y may be x.
extern "C" __global__ void rms_forward(const float* x, const float* w, float* y, float* rstd, int d, float eps) {
    __shared__ float scratch[32];
    long long o = (long long)blockIdx.x * d;
    float ss = 0.f;
    for (int i = threadIdx.x; i < d; i += blockDim.x) {
        float v = x[o + i];
        ss += v * v;
    }
    ss = block_sum(ss, scratch);
    float rs = 1.f / sqrtf(ss / d + eps);
    if (rstd != nullptr && threadIdx.x == 0) rstd[blockIdx.x] = rs;
    for (int i = threadIdx.x; i < d; i += blockDim.x) y[o + i] = w[i] * (x[o + i] * rs);
}

// dx = rs * w * dy - rs^3 / d * x * sum(w * dy * x), row blockIdx.x.
extern "C" __global__ void rms_backward_dx(const float* dy, const float* x, const float* w, const float* rstd,
                                           float* dx, int d) {
    __shared__ float scratch[32];
    long long o = (long long)blockIdx.x * d;
    float rs = rstd[blockIdx.x];
    float dot = 0.f;
    for (int i = threadIdx.x; i < d; i += blockDim.x) dot += w[i] * dy[o + i] * x[o + i];
    dot = block_sum(dot, scratch);
    float c = rs * rs * rs * dot / d;
    for (int i = threadIdx.x; i < d; i += blockDim.x) dx[o + i] = rs * w[i] * dy[o + i] - c * x[o + i];
}

// dw[col] += sum over rows of dy * x * rstd[row]: thread per column (grid x), NORM_DW_ROWS rows per grid y.
extern "C" __global__ void rms_backward_dw(const float* dy, const float* x, const float* rstd, float* dw, int rows,
                                           int d) {
    int col = blockIdx.x * blockDim.x + threadIdx.x;
    if (col >= d) return;
    int r0 = blockIdx.y * NORM_DW_ROWS;
    int r1 = min(rows, r0 + NORM_DW_ROWS);
    float s = 0.f;
    for (int r = r0; r < r1; r++) {
        long long o = (long long)r * d + col;
        s += dy[o] * x[o] * rstd[r];
    }
    atomicAdd(dw + col, s);
}

static __device__ __forceinline__ float grms_silu(float z) { return z / (1.f + expf(-z)); }

// Gated forward, one block per (row, group): blockIdx.x = row * groups + k. g = x * silu(z) over the group's gs
// channels, y = w * g * rstd with rstd = 1 / sqrt(mean(g^2) + eps), written to rstd[row * groups + k] unless NULL.
// g is recomputed in the second pass rather than stored (the group's x and z are still in L1/L2).
extern "C" __global__ void grms_forward(const float* x, const float* z, const float* w, float* y, float* rstd,
                                        int groups, int gs, float eps) {
    __shared__ float scratch[32];
    long long o = (long long)blockIdx.x * gs;  // (row * groups + k) * gs = row * d + k * gs
    const float* wk = w + (long long)(blockIdx.x % groups) * gs;
    float ss = 0.f;
    for (int i = threadIdx.x; i < gs; i += blockDim.x) {
        float g = x[o + i] * grms_silu(z[o + i]);
        ss += g * g;
    }
    ss = block_sum(ss, scratch);
    float rs = 1.f / sqrtf(ss / gs + eps);
    if (rstd != nullptr && threadIdx.x == 0) rstd[blockIdx.x] = rs;
    for (int i = threadIdx.x; i < gs; i += blockDim.x) {
        float g = x[o + i] * grms_silu(z[o + i]);
        y[o + i] = wk[i] * (g * rs);
    }
}

// Gated backward to x and z, one block per (row, group) as in grms_forward: dg = rs * w * dy - rs^3 / gs * g *
// sum(w * dy * g), then dx = dg * silu(z), dz = dg * x * s * (1 + z * (1 - s)) with s = sigmoid(z). dx or dz may
// be NULL.
extern "C" __global__ void grms_backward_dxdz(const float* dy, const float* x, const float* z, const float* w,
                                             const float* rstd, float* dx, float* dz, int groups, int gs) {
    __shared__ float scratch[32];
    long long o = (long long)blockIdx.x * gs;
    const float* wk = w + (long long)(blockIdx.x % groups) * gs;
    float rs = rstd[blockIdx.x];
    float dot = 0.f;
    for (int i = threadIdx.x; i < gs; i += blockDim.x) {
        float g = x[o + i] * grms_silu(z[o + i]);
        dot += wk[i] * dy[o + i] * g;
    }
    dot = block_sum(dot, scratch);
    float c = rs * rs * rs * dot / gs;
    for (int i = threadIdx.x; i < gs; i += blockDim.x) {
        float xi = x[o + i], zi = z[o + i];
        float s = 1.f / (1.f + expf(-zi));
        float g = xi * zi * s;
        float dg = rs * wk[i] * dy[o + i] - c * g;
        if (dx != nullptr) dx[o + i] = dg * zi * s;
        if (dz != nullptr) dz[o + i] = dg * xi * s * (1.f + zi * (1.f - s));
    }
}

// dw[col] += sum over rows of dy * g * rstd[row, col / gs], g = x * silu(z): thread per column (grid x),
// NORM_DW_ROWS rows per grid y.
extern "C" __global__ void grms_backward_dw(const float* dy, const float* x, const float* z, const float* rstd,
                                           float* dw, int rows, int d, int groups, int gs) {
    int col = blockIdx.x * blockDim.x + threadIdx.x;
    if (col >= d) return;
    int k = col / gs;
    int r0 = blockIdx.y * NORM_DW_ROWS;
    int r1 = min(rows, r0 + NORM_DW_ROWS);
    float s = 0.f;
    for (int r = r0; r < r1; r++) {
        long long o = (long long)r * d + col;
        s += dy[o] * (x[o] * grms_silu(z[o])) * rstd[(long long)r * groups + k];
    }
    atomicAdd(dw + col, s);
}
