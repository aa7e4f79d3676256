// NeoX-style rotary embeddings (ai.kestrel.kernels.rope.Rope).
#include "common.cuh"

// Rotates x (B, T, H, P) into y (y may be x): one block per (batch, token) row of H * P floats. Thread i of the
// block takes pairs i, i + blockDim.x, ...: it computes the pair's angle (start + tt) * theta^(-2i/P) and its
// cos/sin in double once, rounds them to float, then rotates pair (i, i + P/2) of every head (coalesced across
// threads). sign is +1 for the forward rotation, -1 for its inverse (the gradient).
extern "C" __global__ void rope_rotate(const float* x, float* y, int t, int h, int p, int start, double theta,
                                       float sign) {
    long long row = blockIdx.x;
    int tt = (int)(row % t);
    int half = p / 2;
    double pos = (double)(start + tt);
    for (int i = threadIdx.x; i < half; i += blockDim.x) {
        double angle = pos * pow(theta, -2.0 * i / p);
        double sd, cd;
        sincos(angle, &sd, &cd);
        float c = (float)cd;
        float s = sign * (float)sd;
        for (int hh = 0; hh < h; hh++) {
            long long o = (row * h + hh) * (long long)p;
            float x1 = x[o + i];
            float x2 = x[o + i + half];
            y[o + i] = x1 * c - x2 * s;
            y[o + i + half] = x2 * c + x1 * s;
        }
    }
}
