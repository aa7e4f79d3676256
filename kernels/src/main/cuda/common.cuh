// Shared helpers for Kestrel's CUDA kernels. Every kernel is extern "C" with a family prefix (ew_, rms_, ...),
// takes float32 buffers unless its name says otherwise, and indexes with 64-bit offsets where a tensor can pass
// 2^31 elements.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <stdint.h>

#define KESTREL_GRID_STRIDE(i, n) \
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < (long long)(n); \
         i += (long long)gridDim.x * blockDim.x)

// Reductions over a warp (all 32 lanes take part) and over a block, for a combining functor Op.
struct KSum {
    template <typename T> __device__ __forceinline__ T operator()(T a, T b) const { return a + b; }
};
struct KMax {
    __device__ __forceinline__ float operator()(float a, float b) const { return fmaxf(a, b); }
};

template <typename T, typename Op>
static __device__ __forceinline__ T warp_reduce(T v, Op op) {
    for (int o = 16; o > 0; o >>= 1) v = op(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

// Over the block; every thread gets the result. blockDim.x must be a multiple of 32 (at most 1024); `scratch` holds
// 32 values of shared memory; `identity` fills the lanes past the last warp. Ends with a barrier, so scratch can be
// reused at once.
template <typename T, typename Op>
static __device__ __forceinline__ T block_reduce(T v, T* scratch, T identity, Op op) {
    int lane = threadIdx.x & 31, wid = threadIdx.x >> 5, nw = blockDim.x >> 5;
    v = warp_reduce(v, op);
    __syncthreads();
    if (lane == 0) scratch[wid] = v;
    __syncthreads();
    T t = lane < nw ? scratch[lane] : identity;
    t = warp_reduce(t, op);
    __syncthreads();
    return t;
}

static __device__ __forceinline__ float warp_sum(float v) { return warp_reduce(v, KSum()); }
static __device__ __forceinline__ float warp_max(float v) { return warp_reduce(v, KMax()); }
static __device__ __forceinline__ double warp_sum_d(double v) { return warp_reduce(v, KSum()); }
static __device__ __forceinline__ float block_sum(float v, float* scratch) { return block_reduce(v, scratch, 0.f, KSum()); }
static __device__ __forceinline__ float block_max(float v, float* scratch) { return block_reduce(v, scratch, -INFINITY, KMax()); }
static __device__ __forceinline__ double block_sum_d(double v, double* scratch) { return block_reduce(v, scratch, 0.0, KSum()); }

static __device__ __forceinline__ float sigmoidf_(float x) { return 1.f / (1.f + __expf(-x)); }

// PyTorch's softplus (beta 1, threshold 20).
static __device__ __forceinline__ float softplusf_(float x) { return x > 20.f ? x : log1pf(expf(x)); }
