// Softmax over the last dimension (ai.kestrel.kernels.softmax.Softmax): one block per row, float accumulation.
#include "common.cuh"

// y = exp(x - max) / sum(exp(x - max)) for row blockIdx.x of a (rows, d) matrix; y may be x.
extern "C" __global__ void sm_forward(const float* x, float* y, int d) {
    __shared__ float scratch[32];
    long long o = (long long)blockIdx.x * d;
    const float* xr = x + o;
    float* yr = y + o;
    float m = -INFINITY;
    for (int i = threadIdx.x; i < d; i += blockDim.x) m = fmaxf(m, xr[i]);
    m = block_max(m, scratch);
    float s = 0.f;
    for (int i = threadIdx.x; i < d; i += blockDim.x) s += expf(xr[i] - m);
    s = block_sum(s, scratch);
    float inv = 1.f / s;
    for (int i = threadIdx.x; i < d; i += blockDim.x) yr[i] = expf(xr[i] - m) * inv;
}

// dx = y * (dy - sum(dy * y)) for row blockIdx.x; dx may be dy or y.
extern "C" __global__ void sm_backward(const float* dy, const float* y, float* dx, int d) {
    __shared__ float scratch[32];
    long long o = (long long)blockIdx.x * d;
    const float* dyr = dy + o;
    const float* yr = y + o;
    float* dxr = dx + o;
    float dot = 0.f;
    for (int i = threadIdx.x; i < d; i += blockDim.x) dot += dyr[i] * yr[i];
    dot = block_sum(dot, scratch);
    for (int i = threadIdx.x; i < d; i += blockDim.x) dxr[i] = yr[i] * (dyr[i] - dot);
}
