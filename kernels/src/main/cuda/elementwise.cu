// Element-wise kernels (ai.kestrel.kernels.elementwise.Elementwise). Broadcast codes: 0 NONE (b is R x C),
// 1 ROW (b is 1 x C), 2 COLUMN (b is R x 1), 3 SCALAR.
#include "common.cuh"

static __device__ __forceinline__ long long ew_bidx(int bc, long long i, long long cols) {
    switch (bc) {
        case 0: return i;
        case 1: return i % cols;
        case 2: return i / cols;
        default: return 0;
    }
}

extern "C" __global__ void ew_add(const float* a, const float* b, float* out, long long n, long long cols, int bc) {
    KESTREL_GRID_STRIDE(i, n) out[i] = a[i] + b[ew_bidx(bc, i, cols)];
}

extern "C" __global__ void ew_mul(const float* a, const float* b, float* out, long long n, long long cols, int bc) {
    KESTREL_GRID_STRIDE(i, n) out[i] = a[i] * b[ew_bidx(bc, i, cols)];
}

extern "C" __global__ void ew_scale(const float* a, float s, float* out, long long n) {
    KESTREL_GRID_STRIDE(i, n) out[i] = s * a[i];
}

extern "C" __global__ void ew_axpy(float alpha, const float* x, float* y, long long n) {
    KESTREL_GRID_STRIDE(i, n) y[i] = fmaf(alpha, x[i], y[i]);
}

extern "C" __global__ void ew_silu(const float* x, float* y, long long n) {
    KESTREL_GRID_STRIDE(i, n) {
        float v = x[i];
        y[i] = v / (1.f + expf(-v));
    }
}

extern "C" __global__ void ew_silu_backward(const float* dy, const float* x, float* dx, long long n) {
    KESTREL_GRID_STRIDE(i, n) {
        float v = x[i];
        float s = 1.f / (1.f + expf(-v));
        dx[i] = dy[i] * s * (1.f + v * (1.f - s));
    }
}

extern "C" __global__ void ew_softplus(const float* x, float* y, long long n) {
    KESTREL_GRID_STRIDE(i, n) y[i] = softplusf_(x[i]);
}

extern "C" __global__ void ew_softplus_backward(const float* dy, const float* x, float* dx, long long n) {
    KESTREL_GRID_STRIDE(i, n) {
        float v = x[i];
        dx[i] = v > 20.f ? dy[i] : dy[i] / (1.f + expf(-v));
    }
}

extern "C" __global__ void ew_exp(const float* x, float* y, long long n) {
    KESTREL_GRID_STRIDE(i, n) y[i] = expf(x[i]);
}

// Column sums out[c] (+)= sum_r x[r, c]: one thread per column, rows walked in order (coalesced across threads).
extern "C" __global__ void ew_sum_rows(const float* x, float* out, int rows, int cols, int accumulate) {
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= cols) return;
    float s = 0.f;
    for (int r = 0; r < rows; r++) s += x[(long long)r * cols + c];
    out[c] = accumulate ? out[c] + s : s;
}

// Row sums out[r] (+)= sum_c x[r, c]: one block per row.
extern "C" __global__ void ew_sum_cols(const float* x, float* out, int rows, int cols, int accumulate) {
    __shared__ float scratch[32];
    int r = blockIdx.x;
    const float* row = x + (long long)r * cols;
    float s = 0.f;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) s += row[c];
    s = block_sum(s, scratch);
    if (threadIdx.x == 0) out[r] = accumulate ? out[r] + s : s;
}

// (best, bi) over the warp: the larger value, then the lower column; bi < 0 marks an empty candidate.
static __device__ __forceinline__ void warp_argmax(float& best, int& bi) {
    for (int o = 16; o > 0; o >>= 1) {
        float ov = __shfl_xor_sync(0xffffffffu, best, o);
        int oi = __shfl_xor_sync(0xffffffffu, bi, o);
        if (oi >= 0 && (bi < 0 || ov > best || (ov == best && oi < bi))) {
            best = ov;
            bi = oi;
        }
    }
}

// Arg-max of each row of x (rows, cols): the first (lowest) column holding the row's largest value; NaN is never
// the maximum unless the whole row is NaN (then column 0). One block per row.
extern "C" __global__ void ew_argmax_rows(const float* x, int* out, int rows, int cols) {
    __shared__ float sv[32];
    __shared__ int si[32];
    int r = blockIdx.x;
    const float* row = x + (long long)r * cols;
    float best = -INFINITY;
    int bi = -1;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) {
        float v = row[c];
        if (v > best || (bi < 0 && v == best)) {  // strictly greater keeps the first column of a tie
            best = v;
            bi = c;
        }
    }
    // warp then block: prefer the larger value, then the lower column
    warp_argmax(best, bi);
    int lane = threadIdx.x & 31, wid = threadIdx.x >> 5, nw = blockDim.x >> 5;
    if (lane == 0) {
        sv[wid] = best;
        si[wid] = bi;
    }
    __syncthreads();
    if (wid == 0) {
        best = lane < nw ? sv[lane] : -INFINITY;
        bi = lane < nw ? si[lane] : -1;
        warp_argmax(best, bi);
        if (lane == 0) out[r] = bi < 0 ? 0 : bi;
    }
}
