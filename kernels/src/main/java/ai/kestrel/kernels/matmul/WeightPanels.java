package ai.kestrel.kernels.matmul;

import static ai.kestrel.kernels.Vec.F;

import ai.kestrel.kernels.quant.Dequant;
import ai.kestrel.kernels.quant.Weights;
import jdk.incubator.vector.FloatVector;

/** B panels cut from a weight matrix, in the two orientations the products need. */
final class WeightPanels {
    private WeightPanels() {
    }

    /**
     * {@code B = Wᵀ} (B[k][n] = W[n][k]), for {@code y = x·Wᵀ}. Weight rows are decoded, one vector's worth
     * of rows at a time, into a row-major scratch block; with 16-lane vectors, 16 x 16 blocks of it are then
     * transposed in registers ({@link #transpose16}) and stored as panel rows. Other vector widths, and the
     * last {@code kc % 16} reduction rows, are scattered one value at a time.
     */
    static Gemm.Panels transposed(Weights w) {
        return new Gemm.Panels() {
            @Override
            public void pack(int k0, int kc, int n0, int nc, float[] bp, float[] scratch) {
                int nr = Gemm.NR;
                int l = F.length();
                int panels = (nc + nr - 1) / nr;
                for (int p = 0; p < panels; p++) {
                    int base = p * kc * nr;
                    for (int j0 = 0; j0 < nr; j0 += l) {
                        for (int i = 0; i < l; i++) {
                            int n = n0 + p * nr + j0 + i;
                            if (n < n0 + nc) {
                                Dequant.decode(w, n, k0, kc, scratch, i * kc);
                            } else {
                                java.util.Arrays.fill(scratch, i * kc, (i + 1) * kc, 0f);
                            }
                        }
                        int k = 0;
                        if (l == 16) {
                            for (; k + 16 <= kc; k += 16) {
                                transpose16(scratch, k, kc, bp, base + k * nr + j0, nr);
                            }
                        }
                        for (; k < kc; k++) {
                            for (int i = 0; i < l; i++) {
                                bp[base + k * nr + j0 + i] = scratch[i * kc + k];
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

    private static final FloatVector[] LO = new FloatVector[4];
    private static final FloatVector[] HI = new FloatVector[4];

    static {
        // stage t swaps blocks of s = 8 >> t lanes between row pairs (i, i + s): in the concatenation (a, b),
        // the new a takes a's lane l where bit s of l is clear and b's lane l - s where it is set; the new b
        // takes a's lane l + s and b's lane l
        if (F.length() == 16) {
            for (int t = 0; t < 4; t++) {
                int s = 8 >> t;
                float[] lo = new float[16];
                float[] hi = new float[16];
                for (int l = 0; l < 16; l++) {
                    boolean set = (l & s) != 0;
                    lo[l] = set ? 16 + l - s : l;
                    hi[l] = set ? 16 + l : l + s;
                }
                LO[t] = FloatVector.fromArray(F, lo, 0);
                HI[t] = FloatVector.fromArray(F, hi, 0);
            }
        }
    }

    /**
     * Transposes the 16 x 16 block {@code src[i * stride + k + c]} (rows i, columns c) into
     * {@code dst[out + c * dstStride + i]}: four stages of two-vector selects over row pairs 8, 4, 2 and 1 apart.
     */
    private static void transpose16(float[] src, int k, int stride, float[] dst, int out, int dstStride) {
        FloatVector r0 = FloatVector.fromArray(F, src, k);
        FloatVector r1 = FloatVector.fromArray(F, src, stride + k);
        FloatVector r2 = FloatVector.fromArray(F, src, 2 * stride + k);
        FloatVector r3 = FloatVector.fromArray(F, src, 3 * stride + k);
        FloatVector r4 = FloatVector.fromArray(F, src, 4 * stride + k);
        FloatVector r5 = FloatVector.fromArray(F, src, 5 * stride + k);
        FloatVector r6 = FloatVector.fromArray(F, src, 6 * stride + k);
        FloatVector r7 = FloatVector.fromArray(F, src, 7 * stride + k);
        FloatVector r8 = FloatVector.fromArray(F, src, 8 * stride + k);
        FloatVector r9 = FloatVector.fromArray(F, src, 9 * stride + k);
        FloatVector r10 = FloatVector.fromArray(F, src, 10 * stride + k);
        FloatVector r11 = FloatVector.fromArray(F, src, 11 * stride + k);
        FloatVector r12 = FloatVector.fromArray(F, src, 12 * stride + k);
        FloatVector r13 = FloatVector.fromArray(F, src, 13 * stride + k);
        FloatVector r14 = FloatVector.fromArray(F, src, 14 * stride + k);
        FloatVector r15 = FloatVector.fromArray(F, src, 15 * stride + k);
        FloatVector t0;
        FloatVector t1;
        FloatVector lo = LO[0];
        FloatVector hi = HI[0];
        t0 = lo.selectFrom(r0, r8); t1 = hi.selectFrom(r0, r8); r0 = t0; r8 = t1;
        t0 = lo.selectFrom(r1, r9); t1 = hi.selectFrom(r1, r9); r1 = t0; r9 = t1;
        t0 = lo.selectFrom(r2, r10); t1 = hi.selectFrom(r2, r10); r2 = t0; r10 = t1;
        t0 = lo.selectFrom(r3, r11); t1 = hi.selectFrom(r3, r11); r3 = t0; r11 = t1;
        t0 = lo.selectFrom(r4, r12); t1 = hi.selectFrom(r4, r12); r4 = t0; r12 = t1;
        t0 = lo.selectFrom(r5, r13); t1 = hi.selectFrom(r5, r13); r5 = t0; r13 = t1;
        t0 = lo.selectFrom(r6, r14); t1 = hi.selectFrom(r6, r14); r6 = t0; r14 = t1;
        t0 = lo.selectFrom(r7, r15); t1 = hi.selectFrom(r7, r15); r7 = t0; r15 = t1;
        lo = LO[1];
        hi = HI[1];
        t0 = lo.selectFrom(r0, r4); t1 = hi.selectFrom(r0, r4); r0 = t0; r4 = t1;
        t0 = lo.selectFrom(r1, r5); t1 = hi.selectFrom(r1, r5); r1 = t0; r5 = t1;
        t0 = lo.selectFrom(r2, r6); t1 = hi.selectFrom(r2, r6); r2 = t0; r6 = t1;
        t0 = lo.selectFrom(r3, r7); t1 = hi.selectFrom(r3, r7); r3 = t0; r7 = t1;
        t0 = lo.selectFrom(r8, r12); t1 = hi.selectFrom(r8, r12); r8 = t0; r12 = t1;
        t0 = lo.selectFrom(r9, r13); t1 = hi.selectFrom(r9, r13); r9 = t0; r13 = t1;
        t0 = lo.selectFrom(r10, r14); t1 = hi.selectFrom(r10, r14); r10 = t0; r14 = t1;
        t0 = lo.selectFrom(r11, r15); t1 = hi.selectFrom(r11, r15); r11 = t0; r15 = t1;
        lo = LO[2];
        hi = HI[2];
        t0 = lo.selectFrom(r0, r2); t1 = hi.selectFrom(r0, r2); r0 = t0; r2 = t1;
        t0 = lo.selectFrom(r1, r3); t1 = hi.selectFrom(r1, r3); r1 = t0; r3 = t1;
        t0 = lo.selectFrom(r4, r6); t1 = hi.selectFrom(r4, r6); r4 = t0; r6 = t1;
        t0 = lo.selectFrom(r5, r7); t1 = hi.selectFrom(r5, r7); r5 = t0; r7 = t1;
        t0 = lo.selectFrom(r8, r10); t1 = hi.selectFrom(r8, r10); r8 = t0; r10 = t1;
        t0 = lo.selectFrom(r9, r11); t1 = hi.selectFrom(r9, r11); r9 = t0; r11 = t1;
        t0 = lo.selectFrom(r12, r14); t1 = hi.selectFrom(r12, r14); r12 = t0; r14 = t1;
        t0 = lo.selectFrom(r13, r15); t1 = hi.selectFrom(r13, r15); r13 = t0; r15 = t1;
        lo = LO[3];
        hi = HI[3];
        t0 = lo.selectFrom(r0, r1); t1 = hi.selectFrom(r0, r1); r0 = t0; r1 = t1;
        t0 = lo.selectFrom(r2, r3); t1 = hi.selectFrom(r2, r3); r2 = t0; r3 = t1;
        t0 = lo.selectFrom(r4, r5); t1 = hi.selectFrom(r4, r5); r4 = t0; r5 = t1;
        t0 = lo.selectFrom(r6, r7); t1 = hi.selectFrom(r6, r7); r6 = t0; r7 = t1;
        t0 = lo.selectFrom(r8, r9); t1 = hi.selectFrom(r8, r9); r8 = t0; r9 = t1;
        t0 = lo.selectFrom(r10, r11); t1 = hi.selectFrom(r10, r11); r10 = t0; r11 = t1;
        t0 = lo.selectFrom(r12, r13); t1 = hi.selectFrom(r12, r13); r12 = t0; r13 = t1;
        t0 = lo.selectFrom(r14, r15); t1 = hi.selectFrom(r14, r15); r14 = t0; r15 = t1;
        r0.intoArray(dst, out);
        r1.intoArray(dst, out + dstStride);
        r2.intoArray(dst, out + 2 * dstStride);
        r3.intoArray(dst, out + 3 * dstStride);
        r4.intoArray(dst, out + 4 * dstStride);
        r5.intoArray(dst, out + 5 * dstStride);
        r6.intoArray(dst, out + 6 * dstStride);
        r7.intoArray(dst, out + 7 * dstStride);
        r8.intoArray(dst, out + 8 * dstStride);
        r9.intoArray(dst, out + 9 * dstStride);
        r10.intoArray(dst, out + 10 * dstStride);
        r11.intoArray(dst, out + 11 * dstStride);
        r12.intoArray(dst, out + 12 * dstStride);
        r13.intoArray(dst, out + 13 * dstStride);
        r14.intoArray(dst, out + 14 * dstStride);
        r15.intoArray(dst, out + 15 * dstStride);
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
