// AdamW step and sum of squares (ai.kestrel.kernels.optim.AdamW).
#include "common.cuh"

// One PyTorch AdamW step per element, grid-stride. The host folds the step's scalars (in double):
// decay = 1 - lr * wd, step_size = lr / (1 - beta1^t), bc2_sqrt = sqrt(1 - beta2^t).
extern "C" __global__ void adamw_step(float* p, const float* g, float* m, float* v, long long n, float beta1,
                                      float beta2, float eps, float decay, float step_size, float bc2_sqrt) {
    KESTREL_GRID_STRIDE(i, n) {
        float gi = g[i];
        float mi = beta1 * m[i] + (1.f - beta1) * gi;
        float vi = beta2 * v[i] + (1.f - beta2) * gi * gi;
        m[i] = mi;
        v[i] = vi;
        p[i] = p[i] * decay - step_size * mi / (sqrtf(vi) / bc2_sqrt + eps);
    }
}

// First stage of sum(g^2): each block writes the double sum of its grid-stride share to partial[blockIdx.x].
extern "C" __global__ void adamw_sumsq_partial(const float* g, long long n, double* partial) {
    __shared__ double scratch[32];
    double s = 0.0;
    KESTREL_GRID_STRIDE(i, n) {
        double x = g[i];
        s += x * x;
    }
    s = block_sum_d(s, scratch);
    if (threadIdx.x == 0) partial[blockIdx.x] = s;
}

// Second stage, one block: acc[0] += sum of the count partials, in double, in a fixed order (deterministic).
extern "C" __global__ void adamw_sumsq_final(const double* partial, int count, double* acc) {
    __shared__ double scratch[32];
    double s = 0.0;
    for (int i = threadIdx.x; i < count; i += blockDim.x) s += partial[i];
    s = block_sum_d(s, scratch);
    if (threadIdx.x == 0) acc[0] += s;
}
