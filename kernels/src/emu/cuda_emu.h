// CPU emulation of the CUDA C++ dialect Kestrel's kernels use (kernels/src/main/cuda/*.cu), so that the UNMODIFIED
// kernel sources compile with g++ and run on the CPU (scripts/build-cuda-emu builds them into
// kernels/target/emu/libkestrel_cuda_emu.so; Cuda.java uses it under -Dkestrel.cuda.emulate=true).
//
// What is emulated:
//   * execution model: a launch runs its blocks ONE AT A TIME, in order (x fastest, then y, z); the threads of a
//     block run as cooperative fibers on one OS thread (emu_runtime.cpp), switching only at __syncthreads, at warp
//     collectives (shuffles, ballots, __syncwarp) and at exit. Barriers are real: a thread waits at __syncthreads
//     until every thread of the block that has not exited arrives; a warp collective waits for every live lane of
//     its warp. Threads waiting at different barriers forever (e.g. a __syncthreads that some threads skip while
//     others wait at a shuffle) end the launch with a "deadlock" error instead of hanging.
//   * built-ins: threadIdx, blockIdx, blockDim, gridDim, warpSize (globals the scheduler sets before it switches
//     to a fiber).
//   * memory spaces: __shared__ variables are C++ statics (one block runs at a time, so one copy serves every
//     block; NOT zeroed or reset between blocks); `extern __shared__ T name[]` (dynamic shared memory) is rewritten
//     by the build script into a pointer to a per-launch buffer (filled with 0xff bytes = NaN floats before every
//     block, so a read of never-written dynamic shared memory shows); __constant__ is ordinary global data; device
//     memory is host memory (the Java side allocates it).
//   * atomics: plain read-modify-write (fibers never switch inside one, so they are atomic here).
//   * bf16 / f16: storage types with IEEE round-to-nearest-even conversions (NaN becomes the canonical 0x7fff as on
//     the GPU); arithmetic goes through float.
//   * WMMA (nvcuda::wmma): 16x16x16 fragments of bf16 / f16 with float accumulators. matrix_a / matrix_b fragments
//     hold the whole tile in every lane; an accumulator fragment holds 8 of the 256 elements per lane (element
//     e = i * 16 + j belongs to lane e % 32), and mma_sync computes each element as a float fma chain over k.
//   * math: the fast intrinsics (__expf, __logf, __fdividef, rsqrtf, ...) map to the accurate libm functions;
//     fmaf is a true fused multiply-add; the library is built with -ffp-contract=fast (nvcc also contracts a*b+c
//     into fma by default), so last-bit rounding can differ from the GPU's either way.
//
// What is NOT emulated: the memory model (no data-race or bank-conflict detection: threads of a block see each
// other's writes at once, not only after a barrier), concurrency between blocks (a kernel that needs two blocks to
// run at once, e.g. spin-waiting on another block, hangs), warp divergence and independent thread scheduling beyond
// what barriers imply, shuffle masks (a collective always waits for all live lanes of the warp), memory-access
// checking (an out-of-bounds access reads or corrupts host memory or crashes the JVM instead of raising
// CUDA_ERROR_ILLEGAL_ADDRESS), streams and asynchrony (launches run to completion in order), and per-architecture
// limits beyond block size (1024 threads) and dynamic shared memory (EMU_MAX_DYNAMIC_SMEM).
#pragma once

#include <math.h>
#include <stdint.h>
#include <string.h>

#include <cmath>
#include <type_traits>
#include <utility>

// ---- declaration specifiers
#ifdef EMU_SCAN
#define __global__ EMU_GLOBAL_MARK  // scripts/build-cuda-emu finds the kernels' names by this marker
#else
#define __global__
#endif
#define __device__
#define __host__
#define __forceinline__ inline
#define __noinline__ __attribute__((noinline))
#define __launch_bounds__(...)
#define __shared__ static
#define __constant__
#define __managed__
#define __align__(n) __attribute__((aligned(n)))
// __restrict__ is a g++ keyword already.

// ---- built-in variables
struct uint3 {
    unsigned int x, y, z;
};
struct dim3 {
    unsigned int x = 1, y = 1, z = 1;
    dim3() = default;
    constexpr dim3(unsigned int x_, unsigned int y_ = 1, unsigned int z_ = 1) : x(x_), y(y_), z(z_) {}
};
extern uint3 threadIdx, blockIdx;
extern dim3 blockDim, gridDim;
static constexpr int warpSize = 32;

// Largest dynamic shared memory of one launch (sm_90 allows 227 KiB).
#ifndef EMU_MAX_DYNAMIC_SMEM
#define EMU_MAX_DYNAMIC_SMEM (256 * 1024)
#endif

namespace emu {
// Dynamic shared memory: the build script rewrites `extern __shared__ T name[];` into
// `T* const name = reinterpret_cast<T*>(::emu::dyn_smem);`.
extern unsigned char dyn_smem[];

// A kernel of the library: its name, a function calling it with arguments read from args[i] (each a pointer to
// the argument's value, as cuLaunchKernel's kernelParams), and its parameters' type codes (see type_code).
struct Kernel {
    const char* name;
    void (*call)(void** args);
    const char* sig;
};
extern const Kernel kernels[];
extern const int kernel_count;

// p pointer, i 32-bit integer, l 64-bit integer, f float, d double; ? anything else.
template <class T>
constexpr char type_code() {
    if constexpr (std::is_pointer_v<T>) return 'p';
    else if constexpr (std::is_same_v<T, float>) return 'f';
    else if constexpr (std::is_same_v<T, double>) return 'd';
    else if constexpr (std::is_integral_v<T> && sizeof(T) == 4) return 'i';
    else if constexpr (std::is_integral_v<T> && sizeof(T) == 8) return 'l';
    else return '?';
}

template <auto F>
struct Entry;
template <class... A, void (*F)(A...)>
struct Entry<F> {
    static constexpr char sig[] = {type_code<A>()..., 0};
    template <size_t... I>
    static void call_(void** args, std::index_sequence<I...>) {
        F(*static_cast<std::remove_cv_t<A>*>(args[I])...);
    }
    static void call(void** args) { call_(args, std::index_sequence_for<A...>{}); }
};

// The running thread's lane (linear thread index % 32); set by the scheduler with threadIdx.
extern int cur_lane;
// Block-wide barrier (__syncthreads).
void block_barrier();
// Warp-wide barrier: returns when every live lane of the caller's warp has called it.
void warp_barrier();
// Exchange buffer of the caller's warp for the collective it is entering: 32 slots of 16 bytes, double-buffered
// by the caller's collective count (so a fast lane's next collective cannot overwrite a slot not yet read).
unsigned char (*warp_slots())[16];
// Mask of the live (not exited) lanes of the caller's warp.
unsigned int warp_live_mask();
}  // namespace emu

// ---- barriers and warp collectives
static inline void __syncthreads() { emu::block_barrier(); }
static inline void __syncwarp(unsigned int = 0xffffffffu) { emu::warp_barrier(); }
static inline void __threadfence() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
static inline void __threadfence_block() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }

namespace emu {
// Every lane posts v, meets the warp, and reads the value lane src posted (src == own lane: own value).
template <class T>
static inline T warp_exchange(T v, int src) {
    static_assert(sizeof(T) <= 16 && std::is_trivially_copyable_v<T>, "shuffle of a type larger than 16 bytes");
    unsigned char (*slots)[16] = warp_slots();
    memcpy(slots[cur_lane], &v, sizeof(T));
    warp_barrier();
    T r;
    memcpy(&r, slots[src], sizeof(T));
    return r;
}
}  // namespace emu

template <class T>
static inline T __shfl_sync(unsigned int, T v, int srcLane, int width = 32) {
    int lane = emu::cur_lane;
    return emu::warp_exchange(v, (lane & ~(width - 1)) + (srcLane & (width - 1)));
}
template <class T>
static inline T __shfl_xor_sync(unsigned int, T v, int laneMask, int width = 32) {
    int lane = emu::cur_lane, src = lane ^ laneMask;
    if (src >= (lane & ~(width - 1)) + width) src = lane;  // later groups are not reachable
    return emu::warp_exchange(v, src);
}
template <class T>
static inline T __shfl_down_sync(unsigned int, T v, unsigned int delta, int width = 32) {
    int lane = emu::cur_lane;
    int src = (lane & (width - 1)) + (int)delta >= width ? lane : lane + (int)delta;
    return emu::warp_exchange(v, src);
}
template <class T>
static inline T __shfl_up_sync(unsigned int, T v, unsigned int delta, int width = 32) {
    int lane = emu::cur_lane;
    int src = (lane & (width - 1)) < (int)delta ? lane : lane - (int)delta;
    return emu::warp_exchange(v, src);
}
static inline unsigned int __ballot_sync(unsigned int, int pred) {
    unsigned char (*slots)[16] = emu::warp_slots();
    int p = pred != 0;
    memcpy(slots[emu::cur_lane], &p, sizeof p);
    emu::warp_barrier();
    unsigned int live = emu::warp_live_mask(), r = 0;
    for (int l = 0; l < 32; l++) {
        int q;
        memcpy(&q, slots[l], sizeof q);
        if ((live >> l & 1u) && q) r |= 1u << l;
    }
    return r;
}
static inline int __any_sync(unsigned int m, int pred) { return __ballot_sync(m, pred) != 0; }
static inline int __all_sync(unsigned int m, int pred) { return __ballot_sync(m, pred) == emu::warp_live_mask(); }
static inline unsigned int __activemask() { return emu::warp_live_mask(); }

// ---- atomics (fibers never switch inside these: plain read-modify-write is atomic here)
template <class T>
static inline T atomicAdd(T* p, T v) {
    T old = *p;
    *p = old + v;
    return old;
}
template <class T>
static inline T atomicSub(T* p, T v) {
    T old = *p;
    *p = old - v;
    return old;
}
template <class T>
static inline T atomicExch(T* p, T v) {
    T old = *p;
    *p = v;
    return old;
}
template <class T>
static inline T atomicMax(T* p, T v) {
    T old = *p;
    if (v > old) *p = v;
    return old;
}
template <class T>
static inline T atomicMin(T* p, T v) {
    T old = *p;
    if (v < old) *p = v;
    return old;
}
template <class T>
static inline T atomicCAS(T* p, T cmp, T v) {
    T old = *p;
    if (old == cmp) *p = v;
    return old;
}

// ---- integer / float helpers
template <class A, class B>
static inline std::common_type_t<A, B> min(A a, B b) {
    using C = std::common_type_t<A, B>;
    return (C)a < (C)b ? (C)a : (C)b;
}
template <class A, class B>
static inline std::common_type_t<A, B> max(A a, B b) {
    using C = std::common_type_t<A, B>;
    return (C)a > (C)b ? (C)a : (C)b;
}
static inline float __uint_as_float(unsigned int u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}
static inline unsigned int __float_as_uint(float f) {
    unsigned int u;
    memcpy(&u, &f, 4);
    return u;
}
static inline float __int_as_float(int u) { return __uint_as_float((unsigned int)u); }
static inline int __float_as_int(float f) { return (int)__float_as_uint(f); }
static inline double __longlong_as_double(long long u) {
    double d;
    memcpy(&d, &u, 8);
    return d;
}
static inline long long __double_as_longlong(double d) {
    long long u;
    memcpy(&u, &d, 8);
    return u;
}
static inline int __popc(unsigned int x) { return __builtin_popcount(x); }
static inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
static inline int __clz(int x) { return x == 0 ? 32 : __builtin_clz((unsigned int)x); }
static inline int __ffs(int x) { return __builtin_ffs(x); }
static inline unsigned int __brev(unsigned int x) {
    unsigned int r = 0;
    for (int i = 0; i < 32; i++) r |= ((x >> i) & 1u) << (31 - i);
    return r;
}
template <class T>
static inline T __ldg(const T* p) {
    return *p;
}

// ---- math: fast intrinsics as the accurate libm functions
// (glibc's math.h declares these names itself, as its internal aliases, so they are macros here.)
#define __expf(x) expf(x)
#define __exp10f(x) powf(10.f, (x))
#define __logf(x) logf(x)
#define __log2f(x) log2f(x)
#define __sinf(x) sinf(x)
#define __cosf(x) cosf(x)
#define __tanf(x) tanf(x)
#define __powf(x, y) powf((x), (y))
static inline float __fdividef(float a, float b) { return a / b; }
static inline float __frcp_rn(float x) { return 1.f / x; }
static inline float __fsqrt_rn(float x) { return sqrtf(x); }
static inline float rsqrtf(float x) { return 1.f / sqrtf(x); }
static inline double rsqrt(double x) { return 1.0 / sqrt(x); }
static inline float __saturatef(float x) { return x < 0.f ? 0.f : x > 1.f ? 1.f : x; }
static inline float __fmaf_rn(float a, float b, float c) { return fmaf(a, b, c); }
static inline float __fadd_rn(float a, float b) { return a + b; }
static inline float __fmul_rn(float a, float b) { return a * b; }
#define __sincosf(x, s, c) sincosf((x), (s), (c))

// ---- vector types (aligned as in CUDA's vector_types.h)
#define EMU_VEC2(T, N, A) \
    struct __attribute__((aligned(A))) N { T x, y; }; \
    static inline N make_##N(T x, T y) { return N{x, y}; }
#define EMU_VEC3(T, N) \
    struct N { T x, y, z; }; \
    static inline N make_##N(T x, T y, T z) { return N{x, y, z}; }
#define EMU_VEC4(T, N, A) \
    struct __attribute__((aligned(A))) N { T x, y, z, w; }; \
    static inline N make_##N(T x, T y, T z, T w) { return N{x, y, z, w}; }
EMU_VEC2(float, float2, 8)
EMU_VEC3(float, float3)
EMU_VEC4(float, float4, 16)
EMU_VEC2(double, double2, 16)
EMU_VEC2(int, int2, 8)
EMU_VEC3(int, int3)
EMU_VEC4(int, int4, 16)
EMU_VEC2(unsigned int, uint2, 8)
EMU_VEC4(unsigned int, uint4, 16)
EMU_VEC2(short, short2, 4)
EMU_VEC2(unsigned short, ushort2, 4)
EMU_VEC4(unsigned short, ushort4, 8)
EMU_VEC2(long long, longlong2, 16)
EMU_VEC4(unsigned char, uchar4, 4)
EMU_VEC4(signed char, char4, 4)
static inline uint3 make_uint3(unsigned int x, unsigned int y, unsigned int z) { return uint3{x, y, z}; }
#undef EMU_VEC2
#undef EMU_VEC3
#undef EMU_VEC4

// ---- bf16 and f16 (storage types; IEEE round-to-nearest-even conversions)
namespace emu {
static inline unsigned short f32_to_bf16_bits(float f) {
    unsigned int u = __float_as_uint(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return 0x7fff;  // NaN: CUDA's canonical bf16 NaN
    u += 0x7fffu + ((u >> 16) & 1u);
    return (unsigned short)(u >> 16);
}
static inline float bf16_bits_to_f32(unsigned short b) { return __uint_as_float((unsigned int)b << 16); }
static inline unsigned short f32_to_f16_bits(float f) {
    unsigned int x = __float_as_uint(f);
    unsigned short sign = (unsigned short)((x >> 16) & 0x8000u);
    x &= 0x7fffffffu;
    if (x > 0x7f800000u) return 0x7fff;                    // NaN: CUDA's canonical half NaN
    if (x >= 0x477ff000u) return sign | 0x7c00;            // >= 65520 (or inf): inf
    if (x < 0x38800000u) {                                  // below 2^-14: subnormal half or zero
        if (x < 0x33000000u) return sign;                   // at most 2^-25: rounds to zero
        unsigned int e = x >> 23, m = (x & 0x7fffffu) | 0x800000u;
        unsigned int shift = 126 - e;                       // 14 .. 24
        unsigned int r = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (r & 1u))) r++;
        return sign | (unsigned short)r;
    }
    unsigned int h = (x - 0x38000000u) >> 13, rem = x & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) h++;
    return sign | (unsigned short)h;
}
static inline float f16_bits_to_f32(unsigned short h) {
    unsigned int sign = (unsigned int)(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
    if (e == 0x1f) return __uint_as_float(sign | 0x7f800000u | (m << 13));
    if (e == 0) {
        float v = (float)m * 5.9604644775390625e-8f;  // m * 2^-24, exact
        return sign ? -v : v;
    }
    return __uint_as_float(sign | ((e + 112) << 23) | (m << 13));
}
}  // namespace emu

struct __nv_bfloat16 {
    unsigned short x;
    __nv_bfloat16() = default;
    __nv_bfloat16(float f) : x(emu::f32_to_bf16_bits(f)) {}
    __nv_bfloat16(double f) : x(emu::f32_to_bf16_bits((float)f)) {}
    operator float() const { return emu::bf16_bits_to_f32(x); }
};
struct __half {
    unsigned short x;
    __half() = default;
    __half(float f) : x(emu::f32_to_f16_bits(f)) {}
    __half(double f) : x(emu::f32_to_f16_bits((float)f)) {}
    operator float() const { return emu::f16_bits_to_f32(x); }
};
struct __attribute__((aligned(4))) __nv_bfloat162 {
    __nv_bfloat16 x, y;
};
struct __attribute__((aligned(4))) __half2 {
    __half x, y;
};
typedef __nv_bfloat16 nv_bfloat16;
typedef __nv_bfloat162 nv_bfloat162;
typedef __half half;
typedef __half2 half2;

static inline __nv_bfloat16 __ushort_as_bfloat16(unsigned short b) {
    __nv_bfloat16 r;
    r.x = b;
    return r;
}
static inline unsigned short __bfloat16_as_ushort(__nv_bfloat16 h) { return h.x; }
static inline __half __ushort_as_half(unsigned short b) {
    __half r;
    r.x = b;
    return r;
}
static inline unsigned short __half_as_ushort(__half h) { return h.x; }
static inline __nv_bfloat16 __float2bfloat16(float f) { return __ushort_as_bfloat16(emu::f32_to_bf16_bits(f)); }
static inline __nv_bfloat16 __float2bfloat16_rn(float f) { return __float2bfloat16(f); }
static inline float __bfloat162float(__nv_bfloat16 h) { return emu::bf16_bits_to_f32(h.x); }
static inline __half __float2half(float f) { return __ushort_as_half(emu::f32_to_f16_bits(f)); }
static inline __half __float2half_rn(float f) { return __float2half(f); }
static inline float __half2float(__half h) { return emu::f16_bits_to_f32(h.x); }
static inline __nv_bfloat162 __floats2bfloat162_rn(float a, float b) {
    return __nv_bfloat162{__float2bfloat16(a), __float2bfloat16(b)};
}
static inline __nv_bfloat162 __float22bfloat162_rn(float2 v) { return __floats2bfloat162_rn(v.x, v.y); }
static inline __half2 __floats2half2_rn(float a, float b) { return __half2{__float2half(a), __float2half(b)}; }
static inline __half2 __float22half2_rn(float2 v) { return __floats2half2_rn(v.x, v.y); }
static inline float2 __bfloat1622float2(__nv_bfloat162 v) { return float2{(float)v.x, (float)v.y}; }
static inline float2 __half22float2(__half2 v) { return float2{(float)v.x, (float)v.y}; }
static inline float __low2float(__half2 v) { return (float)v.x; }
static inline float __high2float(__half2 v) { return (float)v.y; }
static inline float __low2float(__nv_bfloat162 v) { return (float)v.x; }
static inline float __high2float(__nv_bfloat162 v) { return (float)v.y; }

// ---- WMMA (nvcuda::wmma), the 16x16x16 shape with bf16 / f16 inputs and float accumulators
namespace nvcuda {
namespace wmma {
struct matrix_a {};
struct matrix_b {};
struct accumulator {};
struct row_major {};
struct col_major {};
enum layout_t { mem_row_major, mem_col_major };

template <class Use, int M, int N, int K, class T, class Layout = void>
struct fragment;

// Input tiles: every lane holds the whole tile (elementwise operations on x[] stay uniform across lanes).
template <class Use, int M, int N, int K, class T, class Layout>
struct fragment_ab {
    static_assert(M == 16 && N == 16 && K == 16, "emulated WMMA supports the 16x16x16 shape only");
    static constexpr int num_elements = 256;
    T x[256];  // matrix_a: x[i * 16 + k] = A(i, k); matrix_b: x[k * 16 + j] = B(k, j)
};
template <int M, int N, int K, class T, class Layout>
struct fragment<matrix_a, M, N, K, T, Layout> : fragment_ab<matrix_a, M, N, K, T, Layout> {};
template <int M, int N, int K, class T, class Layout>
struct fragment<matrix_b, M, N, K, T, Layout> : fragment_ab<matrix_b, M, N, K, T, Layout> {};

// Accumulator: lane l holds elements e = l + 32 q (q < 8) of the row-major 16 x 16 tile (e = i * 16 + j).
template <int M, int N, int K, class T>
struct fragment<accumulator, M, N, K, T, void> {
    static_assert(M == 16 && N == 16 && K == 16, "emulated WMMA supports the 16x16x16 shape only");
    static constexpr int num_elements = 8;
    T x[8];
};

template <class Use, int M, int N, int K, class T, class Layout, class V>
static inline void fill_fragment(fragment<Use, M, N, K, T, Layout>& f, V v) {
    for (int i = 0; i < f.num_elements; i++) f.x[i] = T(v);
}

// A whole 16 x 16 operand tile into x[r * 16 + c] (r the row of A or the k of B), from memory laid out by rows
// (element (r, c) at p[r * ldm + c]) or by columns (at p[c * ldm + r]).
template <class T>
static inline void load_tile(T* x, const T* p, unsigned ldm, bool byRows) {
    for (int r = 0; r < 16; r++)
        for (int c = 0; c < 16; c++) x[r * 16 + c] = byRows ? p[(long long)r * ldm + c] : p[(long long)c * ldm + r];
}
template <class T>
static inline void load_matrix_sync(fragment<matrix_a, 16, 16, 16, T, row_major>& f, const T* p, unsigned ldm) {
    load_tile(f.x, p, ldm, true);
}
template <class T>
static inline void load_matrix_sync(fragment<matrix_a, 16, 16, 16, T, col_major>& f, const T* p, unsigned ldm) {
    load_tile(f.x, p, ldm, false);
}
template <class T>
static inline void load_matrix_sync(fragment<matrix_b, 16, 16, 16, T, row_major>& f, const T* p, unsigned ldm) {
    load_tile(f.x, p, ldm, true);
}
template <class T>
static inline void load_matrix_sync(fragment<matrix_b, 16, 16, 16, T, col_major>& f, const T* p, unsigned ldm) {
    load_tile(f.x, p, ldm, false);
}
template <class T>
static inline void load_matrix_sync(fragment<accumulator, 16, 16, 16, T>& f, const T* p, unsigned ldm, layout_t l) {
    for (int q = 0; q < 8; q++) {
        int e = emu::cur_lane + 32 * q, i = e >> 4, j = e & 15;
        f.x[q] = l == mem_row_major ? p[(long long)i * ldm + j] : p[(long long)j * ldm + i];
    }
}
template <class T>
static inline void store_matrix_sync(T* p, const fragment<accumulator, 16, 16, 16, T>& f, unsigned ldm, layout_t l) {
    for (int q = 0; q < 8; q++) {
        int e = emu::cur_lane + 32 * q, i = e >> 4, j = e & 15;
        (l == mem_row_major ? p[(long long)i * ldm + j] : p[(long long)j * ldm + i]) = f.x[q];
    }
}
// d = a . b + c, each of the lane's elements a float fma chain over k (products of 16-bit values are exact).
template <class T, class LA, class LB, class C>
static inline void mma_sync(fragment<accumulator, 16, 16, 16, C>& d, const fragment<matrix_a, 16, 16, 16, T, LA>& a,
                            const fragment<matrix_b, 16, 16, 16, T, LB>& b,
                            const fragment<accumulator, 16, 16, 16, C>& c) {
    C out[8];
    for (int q = 0; q < 8; q++) {
        int e = emu::cur_lane + 32 * q, i = e >> 4, j = e & 15;
        float s = (float)c.x[q];
        for (int k = 0; k < 16; k++) s = fmaf((float)a.x[i * 16 + k], (float)b.x[k * 16 + j], s);
        out[q] = (C)s;
    }
    for (int q = 0; q < 8; q++) d.x[q] = out[q];
}
}  // namespace wmma
}  // namespace nvcuda
