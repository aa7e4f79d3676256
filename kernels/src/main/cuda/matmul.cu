// Matrix products with a stored weight matrix W (N, K) (ai.kestrel.kernels.matmul.Matmul), W dequantized inside
// the kernels. Formats (ai.kestrel.kernels.quant.WeightFormat), each row of K elements stored contiguously,
// little-endian:
//   F32   4 bytes per element
//   BF16  2 bytes: the high half of a float32
//   F16   2 bytes: IEEE half
//   Q8_0  per 32 elements 34 bytes: IEEE half scale d, then 32 int8 q; element = d * q (K a multiple of 32)
//   NF4   per 64 elements 36 bytes: float32 scale s, then 32 bytes of 4-bit codes, the first element in the high
//         nibble; element = MM_NF4_CODE[nibble] * s (K a multiple of 64)
// W's base pointer must be 16-byte aligned (device allocations are 256-byte aligned).
//
// Kernels:
//   mm_gemv_<fmt>      y (M, N) = x (M, K) · Wᵀ + bias for M <= 16: one warp per output row streams the row once.
//   mm_gemm_nt_<fmt>   y = x · Wᵀ + bias for any M: 64x64 output tiles, W dequantized into shared memory per tile.
//   mm_gemm_nn_<fmt>   dx (M, K) (+)= dy (M, N) · W: the same tiles, W read along its rows.
//   mm_gemm_tn_f32     dw (N, K) += dyᵀ · x.
//   mm_wmma_nt_<bf16|f16>  y = x · Wᵀ + bias on tensor cores (x rounded to W's 16-bit type), float accumulation.
//   mm_wmma128_nt_<bf16|f16>  the same with 128x128 tiles and double-buffered shared tiles (large M and N).
//   mm_dequant_<fmt>   out (N, K) = W as float32 (the decode the tiled kernels share, on its own).
//   mm_round_q8_0, mm_round_half  x rounded as ggml rounds a Q8_0 / F16 / BF16 product's activations.
#include "common.cuh"
#include <mma.h>

// Format codes of the templates.
#define MM_F32 0
#define MM_BF16 1
#define MM_F16 2
#define MM_Q8_0 3
#define MM_NF4 4

// The 16 NF4 values (bitsandbytes get_4bit_type("nf4")), index = 4-bit code; the same floats as Nf4.CODE.
__constant__ float MM_NF4_CODE[16] = {
    -1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f, -0.28444138169288635f,
    -0.18477343022823334f, -0.09105003625154495f, 0.0f, 0.07958029955625534f, 0.16093020141124725f,
    0.24611230194568634f, 0.33791524171829224f, 0.44070982933044434f, 0.5626170039176941f,
    0.7229568362236023f, 1.0f,
};

static __device__ __forceinline__ float mm_bf16f(unsigned int bits16) { return __uint_as_float(bits16 << 16); }

static __device__ __forceinline__ float mm_f16f(unsigned int bits16) {
    return __half2float(__ushort_as_half((unsigned short)bits16));
}

// Element (row, col) of W, dequantized; `code` is the NF4 table in shared memory.
template <int FMT>
static __device__ __forceinline__ float mm_welem(const unsigned char* __restrict__ w, long long rowBytes, int row,
                                                 int col, const float* code) {
    const unsigned char* r = w + (long long)row * rowBytes;
    if (FMT == MM_F32) {
        return reinterpret_cast<const float*>(r)[col];
    } else if (FMT == MM_BF16) {
        return mm_bf16f(reinterpret_cast<const unsigned short*>(r)[col]);
    } else if (FMT == MM_F16) {
        return mm_f16f(reinterpret_cast<const unsigned short*>(r)[col]);
    } else if (FMT == MM_Q8_0) {
        const unsigned char* blk = r + (long long)(col >> 5) * 34;
        float d = mm_f16f(*reinterpret_cast<const unsigned short*>(blk));
        return d * (float)(signed char)blk[2 + (col & 31)];
    } else {
        const unsigned char* blk = r + (long long)(col >> 6) * 36;
        float s = *reinterpret_cast<const float*>(blk);
        unsigned int b = blk[4 + ((col & 63) >> 1)];
        return code[(col & 1) ? (b & 15u) : (b >> 4)] * s;
    }
}

// ---------------------------------------------------------------------------------------------------------------
// GEMV (M <= 16): one warp per output row. A lane decodes a unit of MM_UNIT<FMT, VEC> consecutive elements of the
// row (one 16-byte load for F32/BF16/F16 when VEC, a quarter block for Q8_0 and NF4), consecutive lanes take
// consecutive units, and multiplies it with the M rows of x held in shared memory; the lanes' sums are reduced
// over the warp at the end. x is staged in chunks of kc columns (kc a multiple of 64): shared memory m * kc floats.

template <int FMT, bool VEC>
struct MmUnit {
    static constexpr int U = FMT == MM_F32 ? (VEC ? 4 : 1)
                           : (FMT == MM_BF16 || FMT == MM_F16) ? (VEC ? 8 : 1)
                           : FMT == MM_Q8_0 ? 8 : 16;
};

// The U elements of unit u (elements [u*U, u*U + U)) of row r into wv.
template <int FMT, bool VEC>
static __device__ __forceinline__ void mm_unit(const unsigned char* __restrict__ r, int u, float* wv,
                                               const float* code) {
    if (FMT == MM_F32) {
        if (VEC) {
            float4 v = __ldg(reinterpret_cast<const float4*>(r) + u);
            wv[0] = v.x; wv[1] = v.y; wv[2] = v.z; wv[3] = v.w;
        } else {
            wv[0] = __ldg(reinterpret_cast<const float*>(r) + u);
        }
    } else if (FMT == MM_BF16 || FMT == MM_F16) {
        if (VEC) {
            uint4 v = __ldg(reinterpret_cast<const uint4*>(r) + u);
            unsigned int ws[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
            for (int j = 0; j < 4; j++) {
                // little-endian: the lower half-word is the earlier element
                wv[2 * j] = FMT == MM_BF16 ? mm_bf16f(ws[j] & 0xffffu) : mm_f16f(ws[j] & 0xffffu);
                wv[2 * j + 1] = FMT == MM_BF16 ? mm_bf16f(ws[j] >> 16) : mm_f16f(ws[j] >> 16);
            }
        } else {
            unsigned int h = __ldg(reinterpret_cast<const unsigned short*>(r) + u);
            wv[0] = FMT == MM_BF16 ? mm_bf16f(h) : mm_f16f(h);
        }
    } else if (FMT == MM_Q8_0) {
        // unit = 8 elements = a quarter of a 34-byte block; the block is only 2-byte aligned
        const unsigned char* blk = r + (long long)(u >> 2) * 34;
        float d = mm_f16f(__ldg(reinterpret_cast<const unsigned short*>(blk)));
        const unsigned short* q = reinterpret_cast<const unsigned short*>(blk + 2 + (u & 3) * 8);
#pragma unroll
        for (int j = 0; j < 4; j++) {
            unsigned int p = __ldg(q + j);
            wv[2 * j] = d * (float)(signed char)(p & 0xffu);
            wv[2 * j + 1] = d * (float)(signed char)(p >> 8);
        }
    } else {
        // unit = 16 elements = a quarter of a 36-byte block (4-byte aligned: 36 and the row bytes are multiples of 4)
        const unsigned char* blk = r + (long long)(u >> 2) * 36;
        float s = __ldg(reinterpret_cast<const float*>(blk));
        const unsigned int* q = reinterpret_cast<const unsigned int*>(blk + 4 + (u & 3) * 8);
#pragma unroll
        for (int j = 0; j < 2; j++) {
            unsigned int p = __ldg(q + j);
#pragma unroll
            for (int b = 0; b < 4; b++) {
                unsigned int byte = (p >> (8 * b)) & 0xffu;
                wv[8 * j + 2 * b] = code[byte >> 4] * s;
                wv[8 * j + 2 * b + 1] = code[byte & 15u] * s;
            }
        }
    }
}

extern __shared__ __align__(16) float mm_smem[];

template <int FMT, bool VEC>
static __device__ __forceinline__ void mm_gemv_body(const unsigned char* __restrict__ w, long long rowBytes,
                                                    const float* __restrict__ x, const float* __restrict__ bias,
                                                    float* __restrict__ y, int m, int n, int k, int kc) {
    constexpr int U = MmUnit<FMT, VEC>::U;
    __shared__ float code[16];
    float* xs = mm_smem;  // xs[i * kc + e] = x[i, c0 + e]
    int lane = threadIdx.x & 31;
    int warps = blockDim.x >> 5;
    int row = blockIdx.x * warps + (threadIdx.x >> 5);
    bool active = row < n;  // whole warps: idle ones still stage x and meet the barriers
    const unsigned char* wr = w + (long long)(active ? row : 0) * rowBytes;
    if (threadIdx.x < 16) code[threadIdx.x] = MM_NF4_CODE[threadIdx.x];
    float acc[16];
#pragma unroll
    for (int i = 0; i < 16; i++) acc[i] = 0.f;
    for (int c0 = 0; c0 < k; c0 += kc) {
        int len = min(kc, k - c0);
        __syncthreads();  // the previous chunk is consumed (and the first time: code is visible after the next one)
        for (int t = threadIdx.x; t < m * len; t += blockDim.x) {
            int i = t / len;
            int e = t - i * len;
            xs[i * kc + e] = x[(long long)i * k + c0 + e];
        }
        __syncthreads();
        if (active) {
            int units = len / U;  // len is a multiple of U: kc is a multiple of 64, K of U (VEC) or of the block
            int ub = c0 / U;
            for (int u = lane; u < units; u += 32) {
                float wv[U];
                mm_unit<FMT, VEC>(wr, ub + u, wv, code);
#pragma unroll
                for (int i = 0; i < 16; i++) {
                    if (i < m) {
                        const float* xp = xs + i * kc + u * U;
                        float s = 0.f;
                        if (U % 4 == 0) {
#pragma unroll
                            for (int e = 0; e < U; e += 4) {
                                float4 xv = *reinterpret_cast<const float4*>(xp + e);
                                s = fmaf(wv[e], xv.x, s);
                                s = fmaf(wv[e + 1], xv.y, s);
                                s = fmaf(wv[e + 2], xv.z, s);
                                s = fmaf(wv[e + 3], xv.w, s);
                            }
                        } else {
#pragma unroll
                            for (int e = 0; e < U; e++) s = fmaf(wv[e], xp[e], s);
                        }
                        acc[i] += s;
                    }
                }
            }
        }
    }
    if (active) {
        float b = bias == nullptr ? 0.f : bias[row];
#pragma unroll
        for (int i = 0; i < 16; i++) {
            if (i < m) {
                float s = warp_sum(acc[i]);
                if (lane == 0) y[(long long)i * n + row] = s + b;
            }
        }
    }
}

// The activations of a product with Q8_0 weights, rounded as ggml rounds them (Q8Activations on the CPU, bit for
// bit): per block of 32 values, d = the half nearest max|x| / 127, q = rint(x * (127 / max|x|)) (all zero for a zero
// block), out = q * d. A NaN makes its block NaN (fmaxf would skip it). One thread per block.
extern "C" __global__ void mm_round_q8_0(const float* x, float* out, long long blocks) {
    long long b = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (b >= blocks) return;
    const float* v = x + b * 32;
    float amax = 0.f;
    for (int j = 0; j < 32; j++) {
        float a = fabsf(v[j]);
        amax = (a > amax || a != a) ? a : amax;
    }
    float d = __half2float(__float2half_rn(amax / 127.f));  // IEEE division: the build does not use fast math
    float id = amax != 0.f ? 127.f / amax : 0.f;
    for (int j = 0; j < 32; j++) out[b * 32 + j] = rintf(v[j] * id) * d;
}

// The activations of a product with F16 (bf16 = 0) or BF16 (bf16 = 1) weights, rounded to the weight's type as ggml
// converts them (HalfRounding on the CPU): to nearest, ties to even, kept as float. One thread per value.
extern "C" __global__ void mm_round_half(const float* x, float* out, long long count, int bf16) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= count) return;
    float v = x[i];
    out[i] = bf16 ? __bfloat162float(__float2bfloat16_rn(v)) : __half2float(__float2half_rn(v));
}

// vec: 1 when K is a multiple of the 16-byte unit (4 for F32, 8 for BF16/F16), so rows are 16-byte aligned.
#define MM_GEMV_PLAIN(NAME, FMT)                                                                                     \
    extern "C" __global__ void NAME(const unsigned char* w, long long rowBytes, const float* x, const float* bias,  \
                                    float* y, int m, int n, int k, int kc, int vec) {                               \
        if (vec) mm_gemv_body<FMT, true>(w, rowBytes, x, bias, y, m, n, k, kc);                                     \
        else mm_gemv_body<FMT, false>(w, rowBytes, x, bias, y, m, n, k, kc);                                        \
    }
MM_GEMV_PLAIN(mm_gemv_f32, MM_F32)
MM_GEMV_PLAIN(mm_gemv_bf16, MM_BF16)
MM_GEMV_PLAIN(mm_gemv_f16, MM_F16)

// Q8_0 and NF4 units are fixed by the block layout; vec is ignored.
#define MM_GEMV_BLOCKED(NAME, FMT)                                                                                   \
    extern "C" __global__ void NAME(const unsigned char* w, long long rowBytes, const float* x, const float* bias,  \
                                    float* y, int m, int n, int k, int kc, int vec) {                               \
        mm_gemv_body<FMT, true>(w, rowBytes, x, bias, y, m, n, k, kc);                                              \
    }
MM_GEMV_BLOCKED(mm_gemv_q8_0, MM_Q8_0)
MM_GEMV_BLOCKED(mm_gemv_nf4, MM_NF4)

// ---------------------------------------------------------------------------------------------------------------
// Tiled GEMM: C (M, N) = A (M, R) · B (R, N) [+ bias[col]] [+ C when accumulate], float32 FMA. 256 threads per
// 64x64 tile of C, each 4x4 outputs (rows ty + 16i, columns tx + 16j); the reduction in steps of 32 through shared
// memory tiles as[kk][i], bs[kk][j] (one float of padding per row: conflict-free stores either way round).
//   AT:  A(i, r) = a[r * M + i] (a holds Aᵀ, R x M), else a[i * R + r].
//   BNT: B(r, j) = W[j, r] (W is N x R, the forward product), else W[r, j] (W is R x N).
// W's elements are decoded per element by mm_welem<FMT> while the tile is loaded.

#define MM_TM 64
#define MM_TN 64
#define MM_TK 32

template <int FMT, bool AT, bool BNT>
static __device__ __forceinline__ void mm_gemm_body(const float* __restrict__ a, const unsigned char* __restrict__ w,
                                                    long long wRowBytes, const float* __restrict__ bias,
                                                    float* __restrict__ c, int M, int N, int R, int accumulate) {
    __shared__ float as[MM_TK][MM_TM + 1];
    __shared__ float bs[MM_TK][MM_TN + 1];
    __shared__ float code[16];
    int tid = threadIdx.x;
    int tx = tid & 15, ty = tid >> 4;
    int m0 = blockIdx.y * MM_TM;
    int n0 = blockIdx.x * MM_TN;
    if (tid < 16) code[tid] = MM_NF4_CODE[tid];
    float acc[4][4];
#pragma unroll
    for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < 4; j++) acc[i][j] = 0.f;
    for (int r0 = 0; r0 < R; r0 += MM_TK) {
        __syncthreads();  // the previous tiles are consumed; the first time, code[] becomes visible
#pragma unroll
        for (int t = 0; t < (MM_TM * MM_TK) / 256; t++) {
            int idx = tid + 256 * t;
            // consecutive threads along the dimension that is contiguous in memory
            int kk = AT ? idx >> 6 : idx & 31;
            int mm = AT ? idx & 63 : idx >> 5;
            int i = m0 + mm, r = r0 + kk;
            float v = 0.f;
            if (i < M && r < R) v = AT ? a[(long long)r * M + i] : a[(long long)i * R + r];
            as[kk][mm] = v;
        }
#pragma unroll
        for (int t = 0; t < (MM_TN * MM_TK) / 256; t++) {
            int idx = tid + 256 * t;
            int kk = BNT ? idx & 31 : idx >> 6;
            int nn = BNT ? idx >> 5 : idx & 63;
            int j = n0 + nn, r = r0 + kk;
            float v = 0.f;
            if (j < N && r < R) v = BNT ? mm_welem<FMT>(w, wRowBytes, j, r, code) : mm_welem<FMT>(w, wRowBytes, r, j, code);
            bs[kk][nn] = v;
        }
        __syncthreads();
#pragma unroll 8
        for (int kk = 0; kk < MM_TK; kk++) {
            float av[4], bv[4];
#pragma unroll
            for (int i = 0; i < 4; i++) av[i] = as[kk][ty + 16 * i];
#pragma unroll
            for (int j = 0; j < 4; j++) bv[j] = bs[kk][tx + 16 * j];
#pragma unroll
            for (int i = 0; i < 4; i++)
#pragma unroll
                for (int j = 0; j < 4; j++) acc[i][j] = fmaf(av[i], bv[j], acc[i][j]);
        }
    }
#pragma unroll
    for (int i = 0; i < 4; i++) {
        int row = m0 + ty + 16 * i;
        if (row >= M) continue;
#pragma unroll
        for (int j = 0; j < 4; j++) {
            int col = n0 + tx + 16 * j;
            if (col >= N) continue;
            long long o = (long long)row * N + col;
            float v = acc[i][j];
            if (bias != nullptr) v += bias[col];
            if (accumulate) v += c[o];
            c[o] = v;
        }
    }
}

// Forward: y (m, n) = x (m, k) · Wᵀ + bias; grid (ceil(n / 64), ceil(m / 64)), 256 threads.
#define MM_GEMM_NT(NAME, FMT)                                                                                         \
    extern "C" __global__ void NAME(const float* x, const unsigned char* w, long long rowBytes, const float* bias,    \
                                    float* y, int m, int n, int k) {                                                \
        mm_gemm_body<FMT, false, true>(x, w, rowBytes, bias, y, m, n, k, 0);                                         \
    }
// Backward input: dx (m, k) (+)= dy (m, n) · W; grid (ceil(k / 64), ceil(m / 64)), 256 threads.
#define MM_GEMM_NN(NAME, FMT)                                                                                         \
    extern "C" __global__ void NAME(const float* dy, const unsigned char* w, long long rowBytes, float* dx, int m,   \
                                    int n, int k, int accumulate) {                                                 \
        mm_gemm_body<FMT, false, false>(dy, w, rowBytes, nullptr, dx, m, k, n, accumulate);                          \
    }
MM_GEMM_NT(mm_gemm_nt_f32, MM_F32)
MM_GEMM_NT(mm_gemm_nt_bf16, MM_BF16)
MM_GEMM_NT(mm_gemm_nt_f16, MM_F16)
MM_GEMM_NT(mm_gemm_nt_q8_0, MM_Q8_0)
MM_GEMM_NT(mm_gemm_nt_nf4, MM_NF4)
MM_GEMM_NN(mm_gemm_nn_f32, MM_F32)
MM_GEMM_NN(mm_gemm_nn_bf16, MM_BF16)
MM_GEMM_NN(mm_gemm_nn_f16, MM_F16)
MM_GEMM_NN(mm_gemm_nn_q8_0, MM_Q8_0)
MM_GEMM_NN(mm_gemm_nn_nf4, MM_NF4)

// Backward weight: dw (n, k) += dyᵀ (n, m) · x (m, k); grid (ceil(k / 64), ceil(n / 64)), 256 threads.
extern "C" __global__ void mm_gemm_tn_f32(const float* dy, const float* x, float* dw, int m, int n, int k) {
    mm_gemm_body<MM_F32, true, false>(dy, reinterpret_cast<const unsigned char*>(x), (long long)k * 4, nullptr, dw,
                                      n, k, m, 1);
}

// ---------------------------------------------------------------------------------------------------------------
// Tensor cores (WMMA, 16x16x16, float accumulation) for the forward product with BF16 or F16 weights, K a multiple
// of 16: y (m, n) = x (m, k) · Wᵀ + bias. 128 threads (4 warps, 2 x 2) per 64x64 tile of y, each warp 32x32 as
// 2 x 2 accumulator fragments; the reduction in steps of 32 through shared tiles of 16-bit values: x converted to
// W's type (round to nearest even: the product's error is that of a bf16 / f16 x, not float32) and W's bits copied
// as stored (16-byte loads: K % 16 == 0 keeps rows and the 8-element chunks aligned, and a chunk is wholly inside
// or outside the row). The accumulators go through shared memory to the bounds-checked, coalesced store.

#define MM_WK 32
#define MM_WLD (MM_WK + 8)  // 16-bit elements per shared row: a multiple of 8, as WMMA needs

template <typename T>
static __device__ __forceinline__ unsigned int mm_pack2(float a, float b);

template <>
__device__ __forceinline__ unsigned int mm_pack2<__nv_bfloat16>(float a, float b) {
    __nv_bfloat162 v = __floats2bfloat162_rn(a, b);  // .x (a) in the low half: the earlier element
    return *reinterpret_cast<unsigned int*>(&v);
}

template <>
__device__ __forceinline__ unsigned int mm_pack2<__half>(float a, float b) {
    __half2 v = __floats2half2_rn(a, b);
    return *reinterpret_cast<unsigned int*>(&v);
}

template <typename T>
static __device__ __forceinline__ void mm_wmma_body(const float* __restrict__ x, const unsigned char* __restrict__ w,
                                                    const float* __restrict__ bias, float* __restrict__ y, int m,
                                                    int n, int k) {
    using namespace nvcuda;
    __shared__ __align__(32) T as[64 * MM_WLD];  // as[r * MM_WLD + c] = x[m0 + r, k0 + c]
    __shared__ __align__(32) T bs[64 * MM_WLD];  // bs[r * MM_WLD + c] = W[n0 + r, k0 + c]
    __shared__ __align__(32) float cs[64 * 68];
    int tid = threadIdx.x;
    int warp = tid >> 5;
    int wm = warp >> 1, wn = warp & 1;
    int m0 = blockIdx.y * 64;
    int n0 = blockIdx.x * 64;
    const unsigned short* wb = reinterpret_cast<const unsigned short*>(w);
    wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[2][2];
#pragma unroll
    for (int i = 0; i < 2; i++)
#pragma unroll
        for (int j = 0; j < 2; j++) wmma::fill_fragment(acc[i][j], 0.f);
    for (int k0 = 0; k0 < k; k0 += MM_WK) {
        __syncthreads();  // the previous tiles are consumed
        // x: 64 rows x 32 columns as 512 float4, 4 per thread, converted to T
#pragma unroll
        for (int t = 0; t < 4; t++) {
            int idx = tid + 128 * t;
            int r = idx >> 3, c = (idx & 7) * 4;
            int i = m0 + r, col = k0 + c;
            float4 v = make_float4(0.f, 0.f, 0.f, 0.f);
            if (i < m && col < k) v = *reinterpret_cast<const float4*>(x + (long long)i * k + col);  // k % 4 == 0
            uint2 p;
            p.x = mm_pack2<T>(v.x, v.y);
            p.y = mm_pack2<T>(v.z, v.w);
            *reinterpret_cast<uint2*>(as + r * MM_WLD + c) = p;
        }
        // W: 64 rows x 32 columns as 256 chunks of 8 (16 bytes), 2 per thread, bits as stored
#pragma unroll
        for (int t = 0; t < 2; t++) {
            int idx = tid + 128 * t;
            int r = idx >> 2, c = (idx & 3) * 8;
            int j = n0 + r, col = k0 + c;
            uint4 v = make_uint4(0u, 0u, 0u, 0u);
            if (j < n && col < k) v = __ldg(reinterpret_cast<const uint4*>(wb + (long long)j * k + col));
            *reinterpret_cast<uint4*>(bs + r * MM_WLD + c) = v;
        }
        __syncthreads();
#pragma unroll
        for (int kk = 0; kk < MM_WK; kk += 16) {
            wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> fa[2];
            wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::col_major> fb[2];
#pragma unroll
            for (int i = 0; i < 2; i++) wmma::load_matrix_sync(fa[i], as + (wm * 32 + i * 16) * MM_WLD + kk, MM_WLD);
            // B (k, n) = W[n, k]: column-major with W's rows as columns
#pragma unroll
            for (int j = 0; j < 2; j++) wmma::load_matrix_sync(fb[j], bs + (wn * 32 + j * 16) * MM_WLD + kk, MM_WLD);
#pragma unroll
            for (int i = 0; i < 2; i++)
#pragma unroll
                for (int j = 0; j < 2; j++) wmma::mma_sync(acc[i][j], fa[i], fb[j], acc[i][j]);
        }
    }
#pragma unroll
    for (int i = 0; i < 2; i++)
#pragma unroll
        for (int j = 0; j < 2; j++)
            wmma::store_matrix_sync(cs + (wm * 32 + i * 16) * 68 + wn * 32 + j * 16, acc[i][j], 68, wmma::mem_row_major);
    __syncthreads();
    for (int idx = tid; idx < 64 * 64; idx += 128) {
        int r = idx >> 6, c = idx & 63;
        int i = m0 + r, j = n0 + c;
        if (i < m && j < n) y[(long long)i * n + j] = cs[r * 68 + c] + (bias == nullptr ? 0.f : bias[j]);
    }
}

// y (m, n) = x (m, k) · Wᵀ + bias, W BF16 (or F16) with k % 16 == 0; grid (ceil(n / 64), ceil(m / 64)), 128 threads.
extern "C" __global__ void mm_wmma_nt_bf16(const float* x, const unsigned char* w, const float* bias, float* y, int m,
                                           int n, int k) {
    mm_wmma_body<__nv_bfloat16>(x, w, bias, y, m, n, k);
}

extern "C" __global__ void mm_wmma_nt_f16(const float* x, const unsigned char* w, const float* bias, float* y, int m,
                                          int n, int k) {
    mm_wmma_body<__half>(x, w, bias, y, m, n, k);
}

// ---------------------------------------------------------------------------------------------------------------
// The same product with 128x128 tiles of y: 256 threads (8 warps, 2 along M x 4 along N) per tile, each warp 64x32
// as 4 x 2 accumulator fragments; K in steps of 32 through double-buffered shared tiles: while the tensor cores work
// on the current slice, each thread holds its part of the next slice (4 float4 of x, 2 x 16 bytes of W) in
// registers, then stores it (x converted as above) into the other buffer; one __syncthreads per step. The epilogue
// reuses the tiles' shared memory: each warp stages 16 rows x 32 columns of its accumulators at a time, and a lane
// writes one column (bias loaded once), bounds checked. Same preconditions as mm_wmma_nt: K % 16 == 0.
// __launch_bounds__(256, 2) caps the registers at 128 so two blocks share an SM (without it ptxas takes ~170 for
// bf16: one block); the 16-column halves of a slice are not unrolled, which keeps sm_90 free of spills.

#define MM_W128_TILE (128 * MM_WLD)        // 16-bit elements of one 128 x 32 shared tile (padded rows)
#define MM_W128_CLD 36                     // floats per row of a warp's 16 x 32 epilogue staging (16-byte multiple)

template <typename T>
static __device__ __forceinline__ void mm_wmma128_body(const float* __restrict__ x, const unsigned char* __restrict__ w,
                                                       const float* __restrict__ bias, float* __restrict__ y, int m,
                                                       int n, int k) {
    using namespace nvcuda;
    // [A0 | A1 | B0 | B1]: as_b[r * MM_WLD + c] = x[m0 + r, k0 + c], bs_b[r * MM_WLD + c] = W[n0 + r, k0 + c]
    __shared__ __align__(32) unsigned char smem[4 * MM_W128_TILE * sizeof(T)];  // 40960 bytes
    T* tiles = reinterpret_cast<T*>(smem);
    int tid = threadIdx.x;
    int lane = tid & 31;
    int warp = tid >> 5;
    int wm = warp >> 2, wn = warp & 3;  // warp tile: rows wm * 64 .. +64, columns wn * 32 .. +32
    int m0 = blockIdx.y * 128;
    int n0 = blockIdx.x * 128;
    const unsigned short* wb = reinterpret_cast<const unsigned short*>(w);
    wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[4][2];
#pragma unroll
    for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < 2; j++) wmma::fill_fragment(acc[i][j], 0.f);

    float4 xr[4];  // x: 128 rows x 32 columns as 1024 float4, 4 per thread
    uint4 wr[2];   // W: 128 rows x 32 columns as 512 chunks of 8 (16 bytes), 2 per thread
    auto load = [&](int k0) {
#pragma unroll
        for (int t = 0; t < 4; t++) {
            int idx = tid + 256 * t;
            int r = idx >> 3, c = (idx & 7) * 4;
            int i = m0 + r, col = k0 + c;
            xr[t] = make_float4(0.f, 0.f, 0.f, 0.f);
            if (i < m && col < k) xr[t] = *reinterpret_cast<const float4*>(x + (long long)i * k + col);  // k % 4 == 0
        }
#pragma unroll
        for (int t = 0; t < 2; t++) {
            int idx = tid + 256 * t;
            int r = idx >> 2, c = (idx & 3) * 8;
            int j = n0 + r, col = k0 + c;
            wr[t] = make_uint4(0u, 0u, 0u, 0u);
            if (j < n && col < k) wr[t] = __ldg(reinterpret_cast<const uint4*>(wb + (long long)j * k + col));
        }
    };
    auto store = [&](int buf) {
        T* as = tiles + buf * MM_W128_TILE;
        T* bs = tiles + (2 + buf) * MM_W128_TILE;
#pragma unroll
        for (int t = 0; t < 4; t++) {
            int idx = tid + 256 * t;
            int r = idx >> 3, c = (idx & 7) * 4;
            uint2 p;
            p.x = mm_pack2<T>(xr[t].x, xr[t].y);
            p.y = mm_pack2<T>(xr[t].z, xr[t].w);
            *reinterpret_cast<uint2*>(as + r * MM_WLD + c) = p;
        }
#pragma unroll
        for (int t = 0; t < 2; t++) {
            int idx = tid + 256 * t;
            int r = idx >> 2, c = (idx & 3) * 8;
            *reinterpret_cast<uint4*>(bs + r * MM_WLD + c) = wr[t];
        }
    };

    load(0);
    store(0);
    __syncthreads();
    int buf = 0;
    for (int k0 = 0; k0 < k; k0 += MM_WK) {
        bool more = k0 + MM_WK < k;
        if (more) load(k0 + MM_WK);  // in flight while the tensor cores work on this slice
        const T* as = tiles + buf * MM_W128_TILE;
        const T* bs = tiles + (2 + buf) * MM_W128_TILE;
#pragma unroll 1
        for (int kk = 0; kk < MM_WK; kk += 16) {
            wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> fa[4];
            wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::col_major> fb[2];
#pragma unroll
            for (int i = 0; i < 4; i++) wmma::load_matrix_sync(fa[i], as + (wm * 64 + i * 16) * MM_WLD + kk, MM_WLD);
            // B (k, n) = W[n, k]: column-major with W's rows as columns
#pragma unroll
            for (int j = 0; j < 2; j++) wmma::load_matrix_sync(fb[j], bs + (wn * 32 + j * 16) * MM_WLD + kk, MM_WLD);
#pragma unroll
            for (int i = 0; i < 4; i++)
#pragma unroll
                for (int j = 0; j < 2; j++) wmma::mma_sync(acc[i][j], fa[i], fb[j], acc[i][j]);
        }
        // the other buffer was last read in the previous step, which every thread finished (its barrier)
        if (more) store(buf ^ 1);
        __syncthreads();  // the stores are visible, and this slice is consumed, before the next step
        buf ^= 1;
    }

    // epilogue: the last step's barrier leaves the tiles free; a warp's staging is 16 x MM_W128_CLD floats
    float* cs = reinterpret_cast<float*>(smem) + warp * 16 * MM_W128_CLD;
    int j = n0 + wn * 32 + lane;
    float b = (bias != nullptr && j < n) ? bias[j] : 0.f;
#pragma unroll
    for (int i = 0; i < 4; i++) {
#pragma unroll
        for (int jj = 0; jj < 2; jj++)
            wmma::store_matrix_sync(cs + jj * 16, acc[i][jj], MM_W128_CLD, wmma::mem_row_major);
        __syncwarp();
        int rbase = m0 + wm * 64 + i * 16;
        if (j < n) {
#pragma unroll 4
            for (int r = 0; r < 16; r++) {
                int row = rbase + r;
                if (row < m) y[(long long)row * n + j] = cs[r * MM_W128_CLD + lane] + b;
            }
        }
        __syncwarp();  // read before the next fragment row overwrites the staging
    }
}

// y (m, n) = x (m, k) · Wᵀ + bias, W BF16 (or F16) with k % 16 == 0; grid (ceil(n / 128), ceil(m / 128)), 256 threads.
extern "C" __global__ void __launch_bounds__(256, 2) mm_wmma128_nt_bf16(const float* x, const unsigned char* w,
                                                                     const float* bias, float* y, int m, int n, int k) {
    mm_wmma128_body<__nv_bfloat16>(x, w, bias, y, m, n, k);
}

extern "C" __global__ void __launch_bounds__(256, 2) mm_wmma128_nt_f16(const float* x, const unsigned char* w,
                                                                    const float* bias, float* y, int m, int n, int k) {
    mm_wmma128_body<__half>(x, w, bias, y, m, n, k);
}

// ---------------------------------------------------------------------------------------------------------------
// out (n, k) = W dequantized to float32, one thread per element (grid-stride), consecutive threads along a row.
#define MM_DEQUANT(NAME, FMT)                                                                                        \
    extern "C" __global__ void NAME(const unsigned char* w, long long rowBytes, float* out, int n, int k) {         \
        __shared__ float code[16];                                                                                  \
        if (threadIdx.x < 16) code[threadIdx.x] = MM_NF4_CODE[threadIdx.x];                                         \
        __syncthreads();                                                                                            \
        KESTREL_GRID_STRIDE(e, (long long)n * k) {                                                                  \
            int row = (int)(e / k);                                                                                 \
            int col = (int)(e - (long long)row * k);                                                                \
            out[e] = mm_welem<FMT>(w, rowBytes, row, col, code);                                                    \
        }                                                                                                           \
    }
MM_DEQUANT(mm_dequant_f32, MM_F32)
MM_DEQUANT(mm_dequant_bf16, MM_BF16)
MM_DEQUANT(mm_dequant_f16, MM_F16)
MM_DEQUANT(mm_dequant_q8_0, MM_Q8_0)
MM_DEQUANT(mm_dequant_nf4, MM_NF4)
