package ai.kestrel.kernels.matmul;

import ai.kestrel.kernels.quant.Dequant;
import ai.kestrel.kernels.quant.Weights;

/** B panels cut from a weight matrix, in the two orientations the products need. */
final class WeightPanels {
    private WeightPanels() {
    }

    /**
     * {@code B = Wᵀ} (B[k][n] = W[n][k]), for {@code y = x·Wᵀ}: each weight row is decoded once and scattered
     * down its panel column. Scalar scatter: about one store per element, against {@code 2·M} flops that use it.
     */
    static Gemm.Panels transposed(Weights w) {
        return new Gemm.Panels() {
            @Override
            public void pack(int k0, int kc, int n0, int nc, float[] bp, float[] row) {
                int nr = Gemm.NR;
                int panels = (nc + nr - 1) / nr;
                for (int p = 0; p < panels; p++) {
                    int base = p * kc * nr;
                    for (int j = 0; j < nr; j++) {
                        int n = n0 + p * nr + j;
                        if (n < n0 + nc) {
                            Dequant.decode(w, n, k0, kc, row, 0);
                            for (int k = 0; k < kc; k++) {
                                bp[base + k * nr + j] = row[k];
                            }
                        } else {
                            for (int k = 0; k < kc; k++) {
                                bp[base + k * nr + j] = 0f;
                            }
                        }
                    }
                }
            }

            @Override
            public int scratchSize(int rc, int nc) {
                return rc;
            }
        };
    }

    /**
     * {@code B = W} (B[n][k] = W[n][k]), for {@code dx = dy·W} and, over activations, {@code dw += dyᵀ·x}:
     * rows are decoded and copied panel by panel, no transpose.
     */
    static Gemm.Panels direct(Weights w) {
        return new Gemm.Panels() {
            @Override
            public void pack(int r0, int rc, int c0, int nc, float[] bp, float[] row) {
                int nr = Gemm.NR;
                int panels = (nc + nr - 1) / nr;
                for (int r = 0; r < rc; r++) {
                    Dequant.decode(w, r0 + r, c0, nc, row, 0);
                    for (int p = 0; p < panels; p++) {
                        int dst = p * rc * nr + r * nr;
                        int valid = Math.min(nr, nc - p * nr);
                        System.arraycopy(row, p * nr, bp, dst, valid);
                        for (int j = valid; j < nr; j++) {
                            bp[dst + j] = 0f;
                        }
                    }
                }
            }

            @Override
            public int scratchSize(int rc, int nc) {
                return nc;
            }
        };
    }
}
