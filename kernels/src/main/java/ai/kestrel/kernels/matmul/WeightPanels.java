package ai.kestrel.kernels.matmul;

import static ai.kestrel.kernels.Vec.F;

import ai.kestrel.kernels.Buf;
import ai.kestrel.kernels.internal.Transpose;
import ai.kestrel.kernels.quant.Dequant;
import ai.kestrel.kernels.quant.WeightFormat;
import ai.kestrel.kernels.quant.Weights;
import java.lang.foreign.MemorySegment;

/** B panels cut from a weight matrix, in the two orientations the products need. */
final class WeightPanels {
    private WeightPanels() {
    }

    /**
     * {@code B = Wᵀ} (B[k][n] = W[n][k]), for {@code y = x·Wᵀ}. With 16-lane vectors, 16 x 16 blocks are
     * transposed in registers ({@link Transpose#block16}; with 8 lanes 8 x 8 blocks, {@link Transpose#block8}: 1.02x
     * on the whole product, faster in 7 of 10 rounds, on a Zen 3 core) and stored as panel rows: F32 weights
     * straight from their rows (one pass over the weight: 0.65-0.85 against 1.2 ms for the 1280 x 3072 MLP weight on
     * one thread), other formats (and a last group of fewer rows than lanes) from a row-major scratch block their
     * rows are first decoded into (whole rows: decoding 64 columns at a time took twice as long; BF16 straight from
     * its rows, widened in registers, 1.65 against 1.2 ms). Other vector widths, and the reduction rows past the
     * last whole block, are moved one value at a time.
     */
    static Gemm.Panels transposed(Weights w) {
        boolean direct = (F.length() == 16 || F.length() == 8) && w.format() == WeightFormat.F32;
        return new Gemm.Panels() {
            @Override
            public void pack(int k0, int kc, int n0, int nc, float[] bp, int bo, int pstride, float[] scratch) {
                int nr = Gemm.NR;
                int l = F.length();
                int panels = (nc + nr - 1) / nr;
                for (int p = 0; p < panels; p++) {
                    int base = bo + p * pstride;
                    for (int j0 = 0; j0 < nr; j0 += l) {
                        int first = n0 + p * nr + j0;
                        int rows = Math.min(l, n0 + nc - first);
                        // the source block: the weight's own rows (seg, in floats), or the scratch they are decoded into
                        MemorySegment seg = null;
                        float[] arr = null;
                        long at;
                        long stride;
                        if (direct && rows == l) {
                            seg = w.data();
                            stride = w.rowBytes() / 4;
                            at = first * stride + k0;
                        } else {
                            for (int i = 0; i < l; i++) {
                                if (i < rows) {
                                    Dequant.decode(w, first + i, k0, kc, scratch, i * kc);
                                } else {
                                    java.util.Arrays.fill(scratch, i * kc, (i + 1) * kc, 0f);
                                }
                            }
                            arr = scratch;
                            stride = kc;
                            at = 0;
                        }
                        int k = 0;
                        if (l == 16) {
                            for (; k + 16 <= kc; k += 16) {
                                Transpose.block16(arr, seg, at + k, stride, bp, base + k * nr + j0, nr);
                            }
                        } else if (l == 8) {
                            for (; k + 8 <= kc; k += 8) {
                                Transpose.block8(arr, seg, at + k, stride, bp, base + k * nr + j0, nr);
                            }
                        }
                        for (; k < kc; k++) {
                            for (int i = 0; i < l; i++) {
                                long o = at + i * stride + k;
                                bp[base + k * nr + j0 + i] = arr != null ? arr[(int) o] : seg.get(Buf.F32, o * 4);
                            }
                        }
                    }
                }
            }

            @Override
            public int scratchSize(int rc, int nc) {
                return F.length() * rc;
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
            public void pack(int r0, int rc, int c0, int nc, float[] bp, int bo, int pstride, float[] row) {
                int nr = Gemm.NR;
                int panels = (nc + nr - 1) / nr;
                for (int r = 0; r < rc; r++) {
                    Dequant.decode(w, r0 + r, c0, nc, row, 0);
                    for (int p = 0; p < panels; p++) {
                        int dst = bo + p * pstride + r * nr;
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

    /**
     * The panels of B stacked on C along the reduction: rows {@code [0, k1)} from {@code first}, rows from {@code k1}
     * on from {@code second} (its row {@code r - k1}). A block of reduction rows that straddles {@code k1} is filled
     * by both, each into its rows of every panel.
     */
    static Gemm.Panels concat(Gemm.Panels first, int k1, Gemm.Panels second) {
        return new Gemm.Panels() {
            @Override
            public void pack(int r0, int rc, int c0, int nc, float[] bp, int bo, int pstride, float[] scratch) {
                int n1 = Math.max(0, Math.min(rc, k1 - r0));
                if (n1 > 0) {
                    first.pack(r0, n1, c0, nc, bp, bo, pstride, scratch);
                }
                if (n1 < rc) {
                    second.pack(r0 + n1 - k1, rc - n1, c0, nc, bp, bo + n1 * Gemm.NR, pstride, scratch);
                }
            }

            @Override
            public int scratchSize(int rc, int nc) {
                return Math.max(first.scratchSize(rc, nc), second.scratchSize(rc, nc));
            }
        };
    }
}
