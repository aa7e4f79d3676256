// Embedding gather and its scatter-add gradient (ai.kestrel.kernels.embedding.Embedding).
#include "common.cuh"

// Table formats, as ai.kestrel.kernels.quant.WeightFormat's ordinals.
#define EMB_F32 0
#define EMB_F16 2
#define EMB_BF16 3
#define EMB_Q8_0 4
#define EMB_NF4 5

// NF4's 16 code values (ai.kestrel.kernels.quant.Nf4's CODE).
static __constant__ float emb_nf4_code[16] = {
    -1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f, -0.28444138169288635f,
    -0.18477343022823334f, -0.09105003625154495f, 0.0f, 0.07958029955625534f, 0.16093020141124725f,
    0.24611230194568634f, 0.33791524171829224f, 0.44070982933044434f, 0.5626170039176941f,
    0.7229568362236023f, 1.0f};

static __device__ __forceinline__ float emb_f16(const unsigned char* p) {
    return __half2float(__ushort_as_half(*(const unsigned short*)p));
}

// Element c of the stored row at `row` (format fmt), dequantized. Q8_0 blocks are 34 bytes (half scale, 32 int8),
// NF4 blocks 36 bytes (float scale, 32 bytes of codes, the even element in the high nibble); every 2- and 4-byte
// field sits at an offset its size divides, given a table base aligned to 4.
static __device__ __forceinline__ float emb_decode(const unsigned char* row, int fmt, int c) {
    switch (fmt) {
        case EMB_F32: return ((const float*)row)[c];
        case EMB_F16: return emb_f16(row + 2LL * c);
        case EMB_BF16: return __uint_as_float((unsigned)((const unsigned short*)row)[c] << 16);
        case EMB_Q8_0: {
            const unsigned char* b = row + (long long)(c >> 5) * 34;
            return emb_f16(b) * (float)(signed char)b[2 + (c & 31)];
        }
        default: {  // EMB_NF4
            const unsigned char* b = row + (long long)(c >> 6) * 36;
            unsigned q = b[4 + ((c & 63) >> 1)];
            unsigned nib = (c & 1) == 0 ? (q >> 4) & 15u : q & 15u;
            return emb_nf4_code[nib] * *(const float*)b;
        }
    }
}

// out[i, :] = table[ids[i], :] dequantized: one block per id, one thread per column (strided). The host checks
// ids; an id outside [0, v) gives a row of NaN.
extern "C" __global__ void emb_gather(const unsigned char* table, const int* ids, float* out, int v, int d,
                                      long long row_bytes, int fmt) {
    int id = ids[blockIdx.x];
    float* o = out + (long long)blockIdx.x * d;
    if (id < 0 || id >= v) {
        for (int c = threadIdx.x; c < d; c += blockDim.x) o[c] = NAN;
        return;
    }
    const unsigned char* row = table + (long long)id * row_bytes;
    for (int c = threadIdx.x; c < d; c += blockDim.x) o[c] = emb_decode(row, fmt, c);
}

// dTable[ids[i], :] += dOut[i, :]: one block per id, one thread per column, atomicAdd (repeated ids add up in an
// unspecified order). Ids outside [0, v) are skipped (the host checks them first).
extern "C" __global__ void emb_scatter_add(const float* dout, const int* ids, float* dtable, int v, int d) {
    int id = ids[blockIdx.x];
    if (id < 0 || id >= v) return;
    const float* src = dout + (long long)blockIdx.x * d;
    float* dst = dtable + (long long)id * d;
    for (int c = threadIdx.x; c < d; c += blockDim.x) atomicAdd(dst + c, src[c]);
}
