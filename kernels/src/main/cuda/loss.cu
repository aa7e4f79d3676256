// Cross-entropy with ignored labels (ai.kestrel.kernels.loss.CrossEntropy): one block per row, the log-softmax
// fused (max, then sum of exp(x - max), float accumulation).
#include "common.cuh"

#define CE_IGNORE (-100)

// Row blockIdx.x of logits (rows, v): lse[row] = max + log(sum exp(x - max)); loss[row] = lse - x[label], or 0
// where labels[row] is -100. Labels are checked on the host; one outside [0, v) other than -100 gives loss NaN.
extern "C" __global__ void ce_forward(const float* logits, const int* labels, float* loss, float* lse, int v) {
    __shared__ float scratch[32];
    const float* x = logits + (long long)blockIdx.x * v;
    float m = -INFINITY;
    for (int i = threadIdx.x; i < v; i += blockDim.x) m = fmaxf(m, x[i]);
    m = block_max(m, scratch);
    float s = 0.f;
    for (int i = threadIdx.x; i < v; i += blockDim.x) s += expf(x[i] - m);
    s = block_sum(s, scratch);
    if (threadIdx.x == 0) {
        float l = m + logf(s);
        int label = labels[blockIdx.x];
        lse[blockIdx.x] = l;
        if (label == CE_IGNORE) {
            loss[blockIdx.x] = 0.f;
        } else {
            loss[blockIdx.x] = (label >= 0 && label < v) ? l - x[label] : NAN;
        }
    }
}

// dlogits = scale * (exp(x - lse) - onehot(label)) for row blockIdx.x, or 0 where labels[row] is -100.
// dlogits may be logits.
extern "C" __global__ void ce_backward(const float* logits, const int* labels, const float* lse, float scale,
                                       float* dlogits, int v) {
    long long o = (long long)blockIdx.x * v;
    const float* x = logits + o;
    float* dl = dlogits + o;
    int label = labels[blockIdx.x];
    if (label == CE_IGNORE) {
        for (int i = threadIdx.x; i < v; i += blockDim.x) dl[i] = 0.f;
        return;
    }
    float l = lse[blockIdx.x];
    for (int i = threadIdx.x; i < v; i += blockDim.x) {
        float p = expf(x[i] - l);
        dl[i] = scale * (i == label ? p - 1.f : p);
    }
}
