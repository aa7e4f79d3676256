package ai.kestrel.kernels.matmul;

import static ai.kestrel.kernels.Vec.F;

import ai.kestrel.kernels.Buf;
import ai.kestrel.kernels.Parallel;
import ai.kestrel.kernels.internal.Transpose;
import ai.kestrel.kernels.quant.WeightFormat;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * The compute-bound engine behind every large product: {@code C (rows, cols) (+)= A (rows, R) · B (R, cols)},
 * Goto-style.
 *
 * <ol>
 *   <li>A is packed once per call (by the caller) into row blocks of {@link #MR}, interleaved so that the
 *       {@code MR} values of one reduction index are adjacent: {@code ap[ib*R*MR + r*MR + i] = A[ib*MR + i][r]}.</li>
 *   <li>Threads own tiles of C (column chunks of at most {@link #NC}, as many as keep a task's packed B within
 *       {@link #B_BLOCK_BYTES}; split by rows too when columns are few), so no two threads write the same output.</li>
 *   <li>Per reduction block (the whole reduction up to {@link #KMAX}, else equal blocks of at most that), a task packs
 *       its B block into panels of {@link #NR} columns
 *       ({@code bp[p*rc*NR + r*NR + j]}), dequantizing and/or transposing the weight on the way
 *       ({@link Panels}); zero-padded past the last column.</li>
 *   <li>The {@link #MR} x 2-vector micro-kernel broadcasts MR values of A against two vectors of B per reduction
 *       step: with 16 lanes 16 FMAs for 2 vector loads and 8 broadcasts, 16 accumulators in registers (8 with
 *       fewer lanes, where there are 16 vector registers). It writes its tile to a small array; the epilogue adds
 *       it into C (plus bias on the first block when not accumulating).</li>
 * </ol>
 * PLATFORM.md measured 238-239 GFLOP/s in L1 for this 8x2 shape on a Zen 5 core; on the Xeon (Skylake-SP
 * class) developer machine it peaks near 108 GFLOP/s against a 120 GFLOP/s FMA ceiling, and the broadcasts
 * compete with the FMAs for port 5 there.
 */
final class Gemm {
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    /**
     * Rows of A per micro-kernel: 8 with 16-lane vectors (AVX-512 has 32 vector registers: 16 accumulators, two
     * vectors of B, broadcasts), else 4 (AVX2 has 16). On a Zen 3 core (AVX2), 1280 -> 3072 at M = 512, one
     * thread: 8 rows 49.9 GFLOP/s (C2 spills accumulators), 6 rows 37.7 (C2 keeps three broadcasts live and spills
     * one accumulator to the stack: a store-load chain every step), 5 rows 32.6, 4 rows 78.6 against an FMA peak of
     * 83.4 (2026-12-01).
     */
    static final int MR = F.length() >= 16 ? 8 : 4;
    /** Columns of B per micro-kernel: two vectors. */
    static final int NR = 2 * F.length();
    /**
     * The longest reduction done in one block. Up to it the whole reduction is one block, so each tile of C is
     * written once, straight, instead of being read, added to and written back once per block (that epilogue was 8%
     * of a q8_0 prefill with blocks of 256); longer reductions run in equal blocks of at most this
     * ({@link #reductionBlock}: lm_head's dx over 65,536 in blocks of 4,096 instead of 256 ran 1.16-1.31x faster).
     */
    static final int KMAX = 4096;
    /**
     * Tasks start at multiples of this many columns: of NR, and of the quantized block sizes, since B panels
     * cut from weight rows ({@link WeightPanels#direct}) decode Q8_0 (32) and NF4 (64) rows in whole blocks.
     */
    static final int COLUMN_UNIT = Math.max(64, NR);
    /** Columns per task at most, a multiple of {@link #COLUMN_UNIT}. */
    static final int NC = Math.max(COLUMN_UNIT, NR * 8);
    /** Bytes of packed B a task keeps (in L2) while its row blocks stream past: sets the columns per task. */
    static final int B_BLOCK_BYTES = 512 << 10;

    /**
     * Fills B panels for reduction rows {@code [r0, r0 + rc)} and columns {@code [c0, c0 + nc)}: panel {@code p}'s
     * row {@code r} (of {@code rc}) at {@code bp[bo + p * pstride + r * NR]}, {@link #NR} floats zero-padded past the
     * last column. {@link #tile} packs whole blocks ({@code bo = 0}, {@code pstride = rc * NR});
     * {@link WeightPanels#concat} fills the rows of one block from two sources.
     */
    interface Panels {
        void pack(int r0, int rc, int c0, int nc, float[] bp, int bo, int pstride, float[] scratch);

        /** Scratch floats {@link #pack} needs for a block of {@code rc} rows and {@code nc} columns. */
        int scratchSize(int rc, int nc);
    }

    /**
     * A thread's reusable arrays, by slot: 0 packed B panels, 1 their decode scratch (and {@link Gemv}'s tile), 2 packed
     * A, 3 a rounded copy of x, 4 a rounded copy of a second input ({@code MatmulCpu.forwardPair}'s h) or a decode
     * step's product before {@code forwardAdd} sums it.
     */
    private static final ThreadLocal<float[][]> BUFFERS = ThreadLocal.withInitial(() -> new float[5][]);

    private Gemm() {
    }

    /** A thread's reusable array {@code slot} of at least {@code n} floats (contents undefined). */
    static float[] buffer(int slot, int n) {
        float[][] b = BUFFERS.get();
        if (b[slot] == null || b[slot].length < n) {
            b[slot] = new float[n];
        }
        return b[slot];
    }

    /**
     * Packs {@code A = src (rows, R)} into MR-interleaved row blocks; rows past the end are zero. Row blocks are
     * packed in parallel: on one thread this was ~5% of a prefill's serial time, with the other thread idle.
     * With 16-lane vectors, whole blocks are interleaved 32 reduction steps at a time ({@link #interleave8}):
     * 0.32 against 0.43 ms for 512 x 1280 on one thread.
     */
    static float[] packA(MemorySegment src, int rows, int r, float[] ap) {
        return packA(src, rows, r, r, 0, ap);
    }

    /**
     * Packs {@code src (rows, cols)} as the reduction steps {@code [k0, k0 + cols)} of an A whose reduction is
     * {@code r} long (the layout of {@link #packA(MemorySegment, int, int, float[])}): two calls pack {@code [X | H]}
     * for a product of two operands summed ({@code X·Wᵀ + H·Uᵀ} as one reduction over {@code K + r}).
     */
    static float[] packA(MemorySegment src, int rows, int cols, int r, int k0, float[] ap) {
        int blocks = (rows + MR - 1) / MR;
        Parallel.range(blocks, Math.max(1, (64 << 10) / Math.max(1, MR * cols)), (lo, hi) -> {
            float[] row = new float[cols];
            float[] tile = new float[16 * 16];
            for (int ib = lo; ib < hi; ib++) {
                int base = ib * r * MR + k0 * MR;
                int done = 0;
                if (F.length() == 16 && MR == 8 && (ib + 1) * MR <= rows) {
                    done = cols / 32 * 32;
                    for (int k = 0; k < done; k += 32) {
                        interleave8(src, (long) ib * MR * cols + k, cols, tile, ap, base + k * MR);
                    }
                }
                // the rest one value at a time: other widths, the last cols % 32 steps, and a partial last block
                for (int i = 0; i < MR && done < cols; i++) {
                    int gi = ib * MR + i;
                    if (gi < rows) {
                        MemorySegment.copy(src, Buf.F32, ((long) gi * cols + done) * 4, row, 0, cols - done);
                        for (int k = done; k < cols; k++) {
                            ap[base + k * MR + i] = row[k - done];
                        }
                    } else {
                        for (int k = done; k < cols; k++) {
                            ap[base + k * MR + i] = 0f;
                        }
                    }
                }
            }
        });
        return ap;
    }

    private static final VectorShuffle<Float> EVENS = F.length() == 16 ? VectorShuffle.fromOp(F, i -> 2 * i) : null;
    private static final VectorShuffle<Float> ODDS = F.length() == 16 ? VectorShuffle.fromOp(F, i -> 2 * i + 1) : null;

    /**
     * Packs 8 rows ({@code stride} floats apart, from {@code at}) times 32 reduction steps into {@code ap[out + k *
     * 8 + i]} (16-lane vectors): each row's 32 values are split into evens and odds (rows 0-7 and 8-15 of a 16 x 16
     * tile), whose transpose puts steps {@code 2c} and {@code 2c + 1} of the 8 rows in output vector {@code c}.
     */
    private static void interleave8(MemorySegment src, long at, int stride, float[] tile, float[] ap, int out) {
        for (int i = 0; i < MR; i++) {
            FloatVector a = FloatVector.fromMemorySegment(F, src, (at + (long) i * stride) * 4, LE);
            FloatVector b = FloatVector.fromMemorySegment(F, src, (at + (long) i * stride + 16) * 4, LE);
            a.rearrange(EVENS, b).intoArray(tile, i * 16);
            a.rearrange(ODDS, b).intoArray(tile, (MR + i) * 16);
        }
        Transpose.block16(tile, null, 0, 16, ap, out, 16);
    }

    /** A vector of {@link #MR} floats: one reduction step of a row block, as {@link #packATransposed} copies it. */
    private static final VectorSpecies<Float> ROW_BLOCK = VectorSpecies.of(float.class, VectorShape.forBitSize(MR * 32));

    /**
     * Packs {@code A = srcᵀ} where {@code src} is (R, rows): A[i][r] = src[r][i]. Rows past the end are zero. Each
     * reduction step of a whole row block is {@link #MR} contiguous floats of {@code src}, moved as one vector;
     * row blocks are packed in parallel (before, one {@code MemorySegment.copy} per step on the calling thread).
     */
    static float[] packATransposed(MemorySegment src, int rows, int r, float[] ap) {
        int blocks = (rows + MR - 1) / MR;
        Parallel.range(blocks, Math.max(1, (64 << 10) / Math.max(1, MR * r * 4)), (lo, hi) -> {
            for (int ib = lo; ib < hi; ib++) {
                int base = ib * r * MR;
                int i0 = ib * MR;
                int mr = Math.min(MR, rows - i0);
                if (mr == MR) {
                    for (int k = 0; k < r; k++) {
                        FloatVector.fromMemorySegment(ROW_BLOCK, src, ((long) k * rows + i0) * 4, LE).intoArray(ap, base + k * MR);
                    }
                    continue;
                }
                for (int k = 0; k < r; k++) {
                    MemorySegment.copy(src, Buf.F32, ((long) k * rows + i0) * 4, ap, base + k * MR, mr);
                    for (int i = mr; i < MR; i++) {
                        ap[base + k * MR + i] = 0f;
                    }
                }
            }
        });
        return ap;
    }

    /** Floats {@link #packA} needs for {@code rows x r}. */
    static int packedSize(int rows, int r) {
        return Math.multiplyExact((rows + MR - 1) / MR * MR, r);
    }

    /**
     * {@code C (+)= A·B}. {@code c} is (rows, cols) float32; {@code bias} (cols) is added when not accumulating
     * (may be null).
     */
    static void run(float[] ap, int rows, int r, int cols, Panels b, MemorySegment c, MemorySegment bias, boolean accumulate) {
        run(ap, rows, r, cols, b, c, bias, null, accumulate);
    }

    /**
     * {@link #run(float[], int, int, int, Panels, MemorySegment, MemorySegment, boolean)} that also adds
     * {@code residual} (rows, cols, float32; may be null) when not accumulating: {@code C = R + A·B (+ bias)}, the
     * sum formed as each tile of C is written (one pass over C and R, not a product then an addition). {@code residual}
     * may be {@code c} itself.
     */
    static void run(float[] ap, int rows, int r, int cols, Panels b, MemorySegment c, MemorySegment bias, MemorySegment residual,
                    boolean accumulate) {
        int kcMax = reductionBlock(r);
        // columns per task: as many as keep the task's packed B block within B_BLOCK_BYTES, in whole units
        int ncMax = Math.max(COLUMN_UNIT, Math.min(NC, B_BLOCK_BYTES / 4 / Math.max(1, kcMax) / COLUMN_UNIT * COLUMN_UNIT));
        int colChunks = (cols + ncMax - 1) / ncMax;
        int rowBlocks = (rows + MR - 1) / MR;
        int threads = Parallel.threads();
        int rowChunks = colChunks < 2 * threads ? (2 * threads + colChunks - 1) / colChunks : 1;
        // few tasks come in whole rounds per thread: five equal column chunks on two threads left one thread idle for
        // a sixth of the product (dW of the MLP's 1280 x 3072 at M = 512 ran at 74% of the FMA peak)
        int tasks = colChunks * rowChunks;
        if (tasks % threads != 0 && tasks < 8 * threads) {
            rowChunks *= threads / gcd(tasks, threads);
        }
        rowChunks = Math.min(rowBlocks, rowChunks);
        int blocksPerChunk = (rowBlocks + rowChunks - 1) / rowChunks;
        int rc = rowChunks;
        Parallel.range(colChunks * rowChunks, 1, (lo, hi) -> {
            for (int t = lo; t < hi; t++) {
                int cc = t / rc;
                int rr = t % rc;
                int c0 = cc * ncMax;
                int nc = Math.min(ncMax, cols - c0);
                int ib0 = rr * blocksPerChunk;
                int ib1 = Math.min(rowBlocks, ib0 + blocksPerChunk);
                if (ib0 < ib1) {
                    tile(ap, rows, r, cols, b, c, bias, residual, accumulate, c0, nc, ib0, ib1, kcMax);
                }
            }
        });
    }

    private static int gcd(int a, int b) {
        while (b != 0) {
            int t = a % b;
            a = b;
            b = t;
        }
        return a;
    }

    /**
     * The reduction block for a reduction of {@code r}: the whole of it up to {@link #KMAX}; longer ones in equal
     * blocks of at most KMAX, in whole NF4 blocks (64, two Q8_0 blocks), so that quantized weights decode whole blocks.
     */
    static int reductionBlock(int r) {
        if (r <= KMAX) {
            return r;
        }
        int blocks = (r + KMAX - 1) / KMAX;
        int kc = (r + blocks - 1) / blocks;
        int unit = WeightFormat.NF4_BLOCK;
        return (kc + unit - 1) / unit * unit;
    }

    private static void tile(float[] ap, int rows, int r, int cols, Panels b, MemorySegment c, MemorySegment bias,
                             MemorySegment residual, boolean accumulate, int c0, int nc, int ib0, int ib1, int kcMax) {
        int panels = (nc + NR - 1) / NR;
        float[] bp = buffer(0, kcMax * panels * NR);
        float[] scratch = buffer(1, b.scratchSize(Math.min(kcMax, r), nc));
        float[] acc = new float[MR * NR];
        for (int k0 = 0; k0 < r; k0 += kcMax) {
            int kc = Math.min(kcMax, r - k0);
            b.pack(k0, kc, c0, nc, bp, 0, kc * NR, scratch);
            boolean overwrite = k0 == 0 && !accumulate;
            for (int ib = ib0; ib < ib1; ib++) {
                int i0 = ib * MR;
                int mr = Math.min(MR, rows - i0);
                int aOff = ib * r * MR + k0 * MR;
                for (int p = 0; p < panels; p++) {
                    if (MR == 8) {
                        kernel(ap, aOff, bp, p * kc * NR, kc, acc);
                    } else {
                        kernel4(ap, aOff, bp, p * kc * NR, kc, acc);
                    }
                    int j0 = c0 + p * NR;
                    epilogue(acc, c, i0, mr, j0, Math.min(NR, c0 + nc - j0), cols, overwrite, overwrite ? bias : null,
                            overwrite ? residual : null);
                }
            }
        }
    }

    /** The 8 x 2-vector micro-kernel over {@code kc} reduction steps; result tile to {@code acc (MR, NR)}. */
    private static void kernel(float[] ap, int a, float[] bp, int b, int kc, float[] acc) {
        int l = F.length();
        FloatVector c00 = FloatVector.zero(F), c01 = FloatVector.zero(F);
        FloatVector c10 = FloatVector.zero(F), c11 = FloatVector.zero(F);
        FloatVector c20 = FloatVector.zero(F), c21 = FloatVector.zero(F);
        FloatVector c30 = FloatVector.zero(F), c31 = FloatVector.zero(F);
        FloatVector c40 = FloatVector.zero(F), c41 = FloatVector.zero(F);
        FloatVector c50 = FloatVector.zero(F), c51 = FloatVector.zero(F);
        FloatVector c60 = FloatVector.zero(F), c61 = FloatVector.zero(F);
        FloatVector c70 = FloatVector.zero(F), c71 = FloatVector.zero(F);
        // indices are affine in the loop variable so C2 can hoist the array range checks out of the loop
        for (int k = 0; k < kc; k++) {
            int ao = a + k * MR;
            int bo = b + k * NR;
            FloatVector b0 = FloatVector.fromArray(F, bp, bo);
            FloatVector b1 = FloatVector.fromArray(F, bp, bo + l);
            FloatVector x;
            x = FloatVector.broadcast(F, ap[ao]);
            c00 = x.fma(b0, c00);
            c01 = x.fma(b1, c01);
            x = FloatVector.broadcast(F, ap[ao + 1]);
            c10 = x.fma(b0, c10);
            c11 = x.fma(b1, c11);
            x = FloatVector.broadcast(F, ap[ao + 2]);
            c20 = x.fma(b0, c20);
            c21 = x.fma(b1, c21);
            x = FloatVector.broadcast(F, ap[ao + 3]);
            c30 = x.fma(b0, c30);
            c31 = x.fma(b1, c31);
            x = FloatVector.broadcast(F, ap[ao + 4]);
            c40 = x.fma(b0, c40);
            c41 = x.fma(b1, c41);
            x = FloatVector.broadcast(F, ap[ao + 5]);
            c50 = x.fma(b0, c50);
            c51 = x.fma(b1, c51);
            x = FloatVector.broadcast(F, ap[ao + 6]);
            c60 = x.fma(b0, c60);
            c61 = x.fma(b1, c61);
            x = FloatVector.broadcast(F, ap[ao + 7]);
            c70 = x.fma(b0, c70);
            c71 = x.fma(b1, c71);
        }
        c00.intoArray(acc, 0);
        c01.intoArray(acc, l);
        c10.intoArray(acc, NR);
        c11.intoArray(acc, NR + l);
        c20.intoArray(acc, 2 * NR);
        c21.intoArray(acc, 2 * NR + l);
        c30.intoArray(acc, 3 * NR);
        c31.intoArray(acc, 3 * NR + l);
        c40.intoArray(acc, 4 * NR);
        c41.intoArray(acc, 4 * NR + l);
        c50.intoArray(acc, 5 * NR);
        c51.intoArray(acc, 5 * NR + l);
        c60.intoArray(acc, 6 * NR);
        c61.intoArray(acc, 6 * NR + l);
        c70.intoArray(acc, 7 * NR);
        c71.intoArray(acc, 7 * NR + l);
    }

    /**
     * The 4 x 2-vector micro-kernel for vectors of fewer than 16 lanes (see {@link #MR}); otherwise as
     * {@link #kernel}.
     */
    private static void kernel4(float[] ap, int a, float[] bp, int b, int kc, float[] acc) {
        int l = F.length();
        FloatVector c00 = FloatVector.zero(F), c01 = FloatVector.zero(F);
        FloatVector c10 = FloatVector.zero(F), c11 = FloatVector.zero(F);
        FloatVector c20 = FloatVector.zero(F), c21 = FloatVector.zero(F);
        FloatVector c30 = FloatVector.zero(F), c31 = FloatVector.zero(F);
        for (int k = 0; k < kc; k++) {
            int ao = a + k * MR;
            int bo = b + k * NR;
            FloatVector b0 = FloatVector.fromArray(F, bp, bo);
            FloatVector b1 = FloatVector.fromArray(F, bp, bo + l);
            FloatVector x;
            x = FloatVector.broadcast(F, ap[ao + 0]);
            c00 = x.fma(b0, c00);
            c01 = x.fma(b1, c01);
            x = FloatVector.broadcast(F, ap[ao + 1]);
            c10 = x.fma(b0, c10);
            c11 = x.fma(b1, c11);
            x = FloatVector.broadcast(F, ap[ao + 2]);
            c20 = x.fma(b0, c20);
            c21 = x.fma(b1, c21);
            x = FloatVector.broadcast(F, ap[ao + 3]);
            c30 = x.fma(b0, c30);
            c31 = x.fma(b1, c31);
        }
        c00.intoArray(acc, 0 * NR);
        c01.intoArray(acc, 0 * NR + l);
        c10.intoArray(acc, 1 * NR);
        c11.intoArray(acc, 1 * NR + l);
        c20.intoArray(acc, 2 * NR);
        c21.intoArray(acc, 2 * NR + l);
        c30.intoArray(acc, 3 * NR);
        c31.intoArray(acc, 3 * NR + l);
    }

    /** Adds (or writes, plus bias and residual) the valid {@code mr x ncols} corner of the tile into C. */
    private static void epilogue(float[] acc, MemorySegment c, int i0, int mr, int j0, int ncols, int cols,
                                 boolean overwrite, MemorySegment bias, MemorySegment residual) {
        int l = F.length();
        for (int i = 0; i < mr; i++) {
            long row = ((long) (i0 + i) * cols + j0) * 4;
            for (int v = 0; v < NR; v += l) {
                int valid = ncols - v;
                if (valid <= 0) {
                    break;
                }
                FloatVector t = FloatVector.fromArray(F, acc, i * NR + v);
                if (valid >= l) {
                    if (!overwrite) {
                        t = t.add(FloatVector.fromMemorySegment(F, c, row + v * 4L, LE));
                    } else {
                        if (bias != null) {
                            t = t.add(FloatVector.fromMemorySegment(F, bias, (j0 + v) * 4L, LE));
                        }
                        if (residual != null) {
                            t = t.add(FloatVector.fromMemorySegment(F, residual, row + v * 4L, LE));
                        }
                    }
                    t.intoMemorySegment(c, row + v * 4L, LE);
                } else {
                    // the last columns one by one: masked loads and stores on a MemorySegment were not compiled
                    // into vector instructions here (a JFR profile of a q8_0 prefill put 10% of it on this store)
                    for (int j = 0; j < valid; j++) {
                        long at = row + (v + j) * 4L;
                        float e = acc[i * NR + v + j];
                        if (!overwrite) {
                            e += c.get(Buf.F32, at);
                        } else {
                            if (bias != null) {
                                e += bias.get(Buf.F32, (j0 + v + j) * 4L);
                            }
                            if (residual != null) {
                                e += residual.get(Buf.F32, at);
                            }
                        }
                        c.set(Buf.F32, at, e);
                    }
                }
            }
        }
    }
}
