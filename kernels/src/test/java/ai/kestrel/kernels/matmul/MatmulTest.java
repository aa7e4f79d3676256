package ai.kestrel.kernels.matmul;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.assertThrows;

import ai.kestrel.kernels.Buf;
import ai.kestrel.kernels.Twin;
import ai.kestrel.kernels.quant.Codecs;
import ai.kestrel.kernels.quant.WeightFormat;
import ai.kestrel.kernels.quant.Weights;
import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class MatmulTest {
    /** The implementation under test; the GPU twin overrides it. */
    Matmul impl() {
        return Matmul.CPU;
    }

    /**
     * How many times {@link #tol} the forward product of {@code m} rows with {@code f} weights may be off: 1 here;
     * an implementation that rounds x to a 16-bit type somewhere widens it.
     */
    double forwardTolFactor(WeightFormat f, int m, int k) {
        return 1;
    }

    static final WeightFormat[] FAST = {WeightFormat.F32, WeightFormat.BF16, WeightFormat.F16, WeightFormat.Q8_0, WeightFormat.NF4};

    /** (seed, format, M, N, K): M on both sides of the GEMV/GEMM switch, odd N, K odd where the format allows. */
    static Stream<Arguments> shapes() {
        List<Arguments> a = new ArrayList<>();
        int[][] mnk = {{1, 1, 1}, {1, 7, 33}, {2, 33, 7}, {3, 257, 64}, {7, 5, 4097}, {16, 40, 96},
            {17, 33, 64}, {33, 300, 96}, {70, 129, 300}, {9, 1, 33}, {1, 9, 4097}, {1, 12, 300}, {1, 8, 64}, {8, 12, 33}, {5, 64, 1280},
            // dx = dy·W over a long reduction (n): few columns per GEMM task, which must still start on block edges
            {20, 2100, 320},
            // decode over many rows: the four streams of a chunk, chunks of uneven size, a partial last quad
            {1, 9001, 64}, {1, 2053, 96}, {3, 2053, 96}, {6, 1030, 64},
            // m, n >= 128: the CUDA 128x128 tensor-core tiles, partial in both, K with a half last slice (k % 32 == 16)
            {130, 129, 80}, {257, 260, 176},
            // a reduction past KMAX in blocks (panels cut at k0 > 0), rows in whole and partial 16-row pairs
            {41, 37, 4200},
            // ...in two blocks whose equal halves (2080) would cut an NF4 block: the block is rounded to whole 64s
            {19, 21, 4160},
            // dx = dy·W over a reduction past KMAX (n): equal blocks of whole 64s, the last one shorter
            {12, 4500, 96}};
        long seed = 1;
        for (WeightFormat f : FAST) {
            for (int[] s : mnk) {
                int k = s[2];
                int bs = f.blockSize();
                if (bs > 1) {
                    k = Math.max(bs, (k + bs - 1) / bs * bs); // Q8_0 and NF4 rows are whole blocks (32, 64)
                }
                a.add(Arguments.of(seed++, f, s[0], s[1], k));
            }
        }
        return a.stream();
    }

    /** Tolerance for sums of k products of O(1) values: float32 rounding grows like sqrt(k). */
    static double tol(int k) {
        return 2e-5 * Math.sqrt(k) + 1e-6;
    }

    @ParameterizedTest(name = "seed={0} {1} M={2} N={3} K={4}")
    @MethodSource("shapes")
    void forwardMatchesReference(long seed, WeightFormat f, int m, int n, int k) {
        try (Arena arena = Arena.ofShared()) {
            SplittableRandom rnd = new SplittableRandom(seed);
            Weights w = Codecs.encode(arena, Twin.normal(rnd, n * k, 1), n, k, f);
            Buf x = Twin.randn(arena, rnd, m * k);
            Buf bias = Twin.randn(arena, rnd, n);
            String c = "seed=" + seed + " " + f + " M=" + m + " N=" + n + " K=" + k;
            for (Buf b : new Buf[] {null, bias}) {
                Buf yr = Twin.nans(arena, (long) m * n); // y is overwritten
                Buf yc = Twin.nans(arena, (long) m * n);
                Matmul.REF.forward(x, w, b, yr, m);
                impl().forward(x, w, b, yc, m);
                double g = forwardTolFactor(f, m, k);
                Twin.assertWritten(c + (b == null ? "" : " +bias") + " y", yr, yc, g * tol(k), g * 1e-5);
            }
        }
    }

    /**
     * {@code y = r + x·Wᵀ} against the reference, into a separate output and in place ({@code y} is {@code r}); the
     * K-blocked shapes check that r is added once, with the first block of the reduction.
     */
    @ParameterizedTest(name = "seed={0} {1} M={2} N={3} K={4}")
    @MethodSource("shapes")
    void forwardAddMatchesReference(long seed, WeightFormat f, int m, int n, int k) {
        try (Arena arena = Arena.ofShared()) {
            SplittableRandom rnd = new SplittableRandom(seed + 3000);
            Weights w = Codecs.encode(arena, Twin.normal(rnd, n * k, 1), n, k, f);
            Buf x = Twin.randn(arena, rnd, m * k);
            Buf r = Buf.allocF32(arena, (long) m * n);
            for (long i = 0; i < (long) m * n; i++) {
                r.set(i, 10 * rnd.nextGaussian()); // larger than the product's terms: a missed or doubled r shows
            }
            String c = "seed=" + seed + " " + f + " M=" + m + " N=" + n + " K=" + k;
            double g = forwardTolFactor(f, m, k);
            Buf yr = Twin.nans(arena, (long) m * n); // a y apart from r is overwritten
            Matmul.REF.forwardAdd(x, w, r, yr, m);
            Buf yc = Twin.nans(arena, (long) m * n);
            impl().forwardAdd(x, w, r, yc, m);
            Twin.assertWritten(c + " y", yr, yc, g * tol(k), g * 1e-5);
            Buf inPlace = Buf.ofF32(arena, r.toFloatArray());
            impl().forwardAdd(x, w, inPlace, inPlace, m);
            Twin.assertClose(c + " in place", yr, inPlace, g * tol(k), g * 1e-5);
        }
    }

    /**
     * {@code y = x·Wᵀ + h·Uᵀ} against the reference's definition (a forward, then a forwardAdd): U as wide as a LoRA
     * rank (16) or odd (7, 33), F32 or BF16, the BF16 one rounding h in some cases and W's format rounding x as it
     * does alone; past KMAX the seam between W's and U's reduction rows falls inside the last block. Both operands'
     * values are O(1), so a missed or doubled U term shows.
     */
    @ParameterizedTest(name = "seed={0} {1} M={2} N={3} K={4}")
    @MethodSource("shapes")
    void forwardPairMatchesReference(long seed, WeightFormat f, int m, int n, int k) {
        try (Arena arena = Arena.ofShared()) {
            SplittableRandom rnd = new SplittableRandom(seed + 5000);
            Weights w = Codecs.encode(arena, Twin.normal(rnd, n * k, 1), n, k, f).roundingInput(seed % 5 == 0);
            int r = new int[] {16, 7, 33}[(int) (seed % 3)];
            WeightFormat uf = seed % 4 == 0 ? WeightFormat.BF16 : WeightFormat.F32;
            Weights u = Codecs.encode(arena, Twin.normal(rnd, n * r, 1), n, r, uf).roundingInput(seed % 8 == 0);
            Buf x = Twin.randn(arena, rnd, m * k);
            Buf h = Twin.randn(arena, rnd, m * r);
            String c = "seed=" + seed + " " + f + (w.roundsInput() ? " rounding x" : "") + " M=" + m + " N=" + n + " K=" + k + ", U " + uf
                    + (u.roundsInput() ? " rounding h" : "") + " r=" + r;
            double g = Math.max(forwardTolFactor(f, m, k), forwardTolFactor(uf, m, r));
            Buf yr = Twin.nans(arena, (long) m * n); // y is overwritten
            Matmul.REF.forwardPair(x, w, h, u, yr, m);
            Buf yc = Twin.nans(arena, (long) m * n);
            impl().forwardPair(x, w, h, u, yc, m);
            Twin.assertWritten(c + " y", yr, yc, g * tol(k + r), g * 1e-5);
        }
    }

    /** {@link Matmul#forwardPair} refuses a U whose rows differ from W's, naming both counts. */
    @org.junit.jupiter.api.Test
    void forwardPairRefusesMismatchedRows() {
        try (Arena arena = Arena.ofShared()) {
            SplittableRandom rnd = new SplittableRandom(11);
            Weights w = Weights.of(Twin.randn(arena, rnd, 6 * 8), 6, 8);
            Weights u = Weights.of(Twin.randn(arena, rnd, 5 * 4), 5, 4);
            IllegalArgumentException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                    () -> impl().forwardPair(Twin.randn(arena, rnd, 3 * 8), w, Twin.randn(arena, rnd, 3 * 4), u, Buf.allocF32(arena, 3 * 6), 3));
            assertTrue(e.getMessage().contains("W has 6 rows, U 5"), e.getMessage());
        }
    }

    /**
     * F16 and BF16 weights whose products round x to their type first (as ggml does): the fast path equals the
     * reference, which rounds too; x's rounding moves the product by ~2^-9 (BF16) or ~2^-12 (F16) relative per
     * term, far more than {@link #tol}, so a path that multiplied unrounded x would fail here. Both sides of the
     * GEMV / GEMM switch, partial quads, and reductions longer than a GEMM block.
     */
    @ParameterizedTest(name = "seed={0} {1} M={2} N={3} K={4}")
    @org.junit.jupiter.params.provider.CsvSource({"101, F16, 1, 9, 64", "102, BF16, 1, 9001, 96", "103, F16, 3, 33, 300",
        "104, BF16, 6, 1030, 64", "105, BF16, 17, 33, 64", "106, F16, 70, 129, 300", "107, BF16, 41, 37, 4200",
        "108, F16, 1, 2053, 1280", "109, BF16, 130, 129, 80"})
    void forwardRoundingInputMatchesReference(long seed, WeightFormat f, int m, int n, int k) {
        try (Arena arena = Arena.ofShared()) {
            SplittableRandom rnd = new SplittableRandom(seed);
            Weights w = Codecs.encode(arena, Twin.normal(rnd, n * k, 1), n, k, f).roundingInput(true);
            Buf x = Twin.randn(arena, rnd, m * k);
            Buf bias = Twin.randn(arena, rnd, n);
            String c = "seed=" + seed + " " + f + " rounding x, M=" + m + " N=" + n + " K=" + k;
            Buf yr = Buf.allocF32(arena, (long) m * n);
            Buf yc = Buf.allocF32(arena, (long) m * n);
            Buf yPlain = Buf.allocF32(arena, (long) m * n);
            Matmul.REF.forward(x, w, bias, yr, m);
            impl().forward(x, w, bias, yc, m);
            Matmul.REF.forward(x, w.roundingInput(false), bias, yPlain, m);
            double g = forwardTolFactor(f, m, k);
            Twin.assertClose(c + " y", yr, yc, g * tol(k), g * 1e-5);
            double moved = 0;
            for (long i = 0; i < (long) m * n; i++) {
                moved = Math.max(moved, Math.abs(yr.get(i) - yPlain.get(i)));
            }
            assertTrue(moved > 10 * tol(k), c + ": rounding x moved the reference by only " + moved);
        }
    }

    /**
     * Several matrices sharing x in one call: each output equals the reference's, and one {@link Matmul#forward}
     * per matrix to the last bit or two (same kernel per weight row, only the job is shared; past 16 rows, x rounded
     * and packed once per run of matrices that read it alike); mixed formats, odd row counts (partial quads), some
     * biases missing; K off the vector width too, where Q8_0 and NF4 (whole blocks of 32 and 64) give way to F16 and F32.
     */
    @ParameterizedTest(name = "seed={0} M={1} K={2}")
    @org.junit.jupiter.params.provider.CsvSource({"1, 1, 64", "2, 1, 1280", "3, 3, 64", "4, 8, 320", "5, 16, 192", "6, 17, 64", "7, 45, 320",
        "8, 1, 7", "9, 1, 33", "10, 3, 100", "11, 16, 33", "12, 17, 7", "13, 45, 100", "14, 1, 4097", "15, 20, 4097"})
    void forwardManyMatchesOneCallPerMatrix(long seed, int m, int k) {
        try (Arena arena = Arena.ofShared()) {
            SplittableRandom rnd = new SplittableRandom(seed);
            // two Q8_0 matrices: the first of whole quads, the second with a partial one (which reads x rounded)
            // and F16 / BF16 matrices next to ones of the same format that round x (as ggml does): what each reads of x
            // is shared by format and rounding, never across
            WeightFormat[] formats = {WeightFormat.BF16, WeightFormat.Q8_0, WeightFormat.BF16, WeightFormat.F32, WeightFormat.F16, WeightFormat.NF4,
                WeightFormat.Q8_0, WeightFormat.BF16, WeightFormat.F16, WeightFormat.BF16};
            boolean[] rounding = {false, true, false, false, false, false, true, true, true, true};
            int[] ns = {37, 300, 4, 1, 66, 128, 9, 12, 7, 5};
            for (int j = 0; j < ns.length; j++) {
                if (k % formats[j].blockSize() != 0) { // a K that Q8_0's or NF4's blocks do not divide
                    formats[j] = formats[j] == WeightFormat.Q8_0 ? WeightFormat.F16 : WeightFormat.F32;
                }
            }
            Weights[] ws = new Weights[ns.length];
            Buf[] biases = new Buf[ns.length];
            Buf[] ys = new Buf[ns.length];
            for (int j = 0; j < ns.length; j++) {
                ws[j] = Codecs.encode(arena, Twin.normal(rnd, ns[j] * k, 1), ns[j], k, formats[j]).roundingInput(rounding[j]);
                biases[j] = j % 2 == 0 ? Twin.randn(arena, rnd, ns[j]) : null;
                ys[j] = Twin.nans(arena, (long) m * ns[j]); // every y is overwritten
            }
            Buf x = Twin.randn(arena, rnd, m * k);
            impl().forwardMany(x, ws, biases, ys, m);
            for (int j = 0; j < ns.length; j++) {
                String c = "seed=" + seed + " matrix " + j + " " + formats[j] + (rounding[j] ? " rounding x" : "") + " M=" + m + " N=" + ns[j]
                        + " K=" + k;
                Buf one = Twin.nans(arena, (long) m * ns[j]);
                Buf ref = Twin.nans(arena, (long) m * ns[j]);
                impl().forward(x, ws[j], biases[j], one, m);
                Matmul.REF.forward(x, ws[j], biases[j], ref, m);
                // the same kernel per weight row: equal but for the order of reduceLanes, which the JIT tier picks;
                // that order moves a sum by an ulp or two of its partial sums, which are as large as the largest output
                float largest = 0;
                for (long i = 0; i < (long) m * ns[j]; i++) {
                    largest = Math.max(largest, Math.abs(one.seg().getAtIndex(Buf.F32, i)));
                }
                Twin.assertWritten(c + " vs one call", one, ys[j], 4 * Math.ulp(largest), 1e-6);
                double g = forwardTolFactor(formats[j], m, k);
                Twin.assertClose(c + " vs reference", ref, ys[j], g * tol(k), g * 1e-5);
            }
            Weights other = Codecs.encode(arena, Twin.normal(rnd, 4 * (k + 32), 1), 4, k + 32, WeightFormat.F32);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> impl().forwardMany(x, new Weights[] {ws[0], other}, null, new Buf[] {ys[0], Buf.allocF32(arena, 4L * m)}, m));
            assertTrue(e.getMessage().contains("share x"), e.getMessage());
        }
    }

    @ParameterizedTest(name = "seed={0} {1} M={2} N={3} K={4}")
    @MethodSource("shapes")
    void backwardInputMatchesReference(long seed, WeightFormat f, int m, int n, int k) {
        try (Arena arena = Arena.ofShared()) {
            SplittableRandom rnd = new SplittableRandom(seed + 1000);
            Weights w = Codecs.encode(arena, Twin.normal(rnd, n * k, 1), n, k, f);
            Buf dy = Twin.randn(arena, rnd, m * n);
            String c = "seed=" + seed + " " + f + " M=" + m + " N=" + n + " K=" + k;
            for (boolean acc : new boolean[] {false, true}) {
                // overwritten: dx starts as NaN; accumulated: from the same non-zero values
                Buf dxr = acc ? Twin.randn(arena, rnd, m * k) : Twin.nans(arena, (long) m * k);
                Buf dxc = Buf.ofF32(arena, dxr.toFloatArray());
                Matmul.REF.backwardInput(dy, w, dxr, m, acc);
                impl().backwardInput(dy, w, dxc, m, acc);
                if (acc) {
                    Twin.assertClose(c + " accumulate=" + acc + " dx", dxr, dxc, tol(n), 1e-5);
                } else {
                    Twin.assertWritten(c + " accumulate=" + acc + " dx", dxr, dxc, tol(n), 1e-5);
                }
            }
        }
    }

    @ParameterizedTest(name = "seed={0} {1} M={2} N={3} K={4}")
    @MethodSource("shapes")
    void backwardWeightMatchesReference(long seed, WeightFormat f, int m, int n, int k) {
        if (f != WeightFormat.F32) {
            return; // dW is a float product of activations; the weight format does not enter
        }
        try (Arena arena = Arena.ofShared()) {
            SplittableRandom rnd = new SplittableRandom(seed + 2000);
            Buf dy = Twin.randn(arena, rnd, m * n);
            Buf x = Twin.randn(arena, rnd, m * k);
            Buf dwr = Twin.randn(arena, rnd, n * k);
            Buf dwc = Buf.ofF32(arena, dwr.toFloatArray());
            Matmul.REF.backwardWeight(dy, x, dwr, m, n, k);
            impl().backwardWeight(dy, x, dwc, m, n, k);
            Twin.assertClose("seed=" + seed + " M=" + m + " N=" + n + " K=" + k + " dw", dwr, dwc, tol(m), 1e-5);
        }
    }

    @Test
    void halfPrecisionSpecialsDecode() {
        // F16 subnormals, infinities and NaN go through the bit-manipulating vector decoder
        float[] vals = new float[64];
        for (int i = 0; i < vals.length; i++) {
            vals[i] = (float) ((i % 7 - 3) * Math.pow(2, -24 + i % 5));
        }
        vals[5] = Float.POSITIVE_INFINITY;
        vals[6] = Float.NEGATIVE_INFINITY;
        vals[9] = 65504f;
        vals[10] = -0f;
        try (Arena arena = Arena.ofShared()) {
            Weights w = Codecs.encode(arena, vals, 1, 64, WeightFormat.F16);
            float[] out = new float[64];
            ai.kestrel.kernels.quant.Dequant.decode(w, 0, 0, 64, out, 0);
            for (int i = 0; i < 64; i++) {
                assertEquals(w.get(0, i), out[i], 0, "element " + i);
            }
            vals[7] = Float.NaN;
            Weights wn = Codecs.encode(arena, vals, 1, 64, WeightFormat.F16);
            ai.kestrel.kernels.quant.Dequant.decode(wn, 0, 0, 64, out, 0);
            assertEquals(Float.NaN, out[7]);
        }
    }

    @Test
    void fusedHalfDecodeKeepsSpecialsAndSubnormals() {
        // the M=1 F16 kernel converts halves by shifting bits and scaling the sum by 2^112; rows holding an
        // infinity or NaN must still give what the reference gives, and subnormal weights must not lose accuracy
        int n = 12;
        int k = 97;
        long seed = 41;
        SplittableRandom rnd = new SplittableRandom(seed);
        String c = "seed=" + seed + " F16 M=1 N=" + n + " K=" + k;
        float[] vals = Twin.normal(rnd, n * k, 1);
        for (int j = 0; j < k; j++) {
            vals[4 * k + j] = (float) ((j % 7 - 3) * Math.pow(2, -24 + j % 9)); // row 4: subnormal and tiny halves
            vals[5 * k + j] = (j % 2 == 0 ? 1 : -1) * (60000f + j); // row 5: near the largest half
        }
        vals[1 * k + 10] = Float.POSITIVE_INFINITY;
        vals[2 * k + 96] = Float.NEGATIVE_INFINITY; // in the scalar tail
        vals[6 * k + 40] = Float.NaN;
        vals[9 * k + 3] = Float.POSITIVE_INFINITY;
        vals[9 * k + 50] = Float.NEGATIVE_INFINITY; // two infinities: inf or NaN, as x decides
        try (Arena arena = Arena.ofShared()) {
            Weights w = Codecs.encode(arena, vals, n, k, WeightFormat.F16);
            Buf x = Twin.randn(arena, rnd, k);
            Buf yr = Buf.allocF32(arena, n);
            Buf yc = Buf.allocF32(arena, n);
            Matmul.REF.forward(x, w, null, yr, 1);
            impl().forward(x, w, null, yc, 1);
            for (int r = 0; r < n; r++) {
                float e = (float) yr.get(r);
                float a = (float) yc.get(r);
                if (!Float.isFinite(e)) {
                    assertEquals(e, a, 0, c + " row " + r);
                } else {
                    // a product below 2^-14 in size is a float subnormal in the scaled domain: absolute error up to
                    // 2^-149 * 2^112 = 2^-37 each, far below the half's own quantization step (2^-24 and up)
                    assertEquals(e, a, Math.abs(e) * 1e-5 + k * 0x1p-37, c + " row " + r);
                }
            }
            assertTrue(Double.isNaN(yr.get(6)) && Double.isInfinite(yr.get(1)) && !Double.isFinite(yr.get(9)),
                    "the rows test what they mean to: " + yr.get(1) + " " + yr.get(6) + " " + yr.get(9));
        }
    }

    /**
     * BF16 rows that start off a vector boundary, as weights mapped from files do (GGUF aligns tensors to 32 bytes
     * only, safetensors to 8): the single-row kernel, alone and in a job with an aligned matrix, sums what the
     * reference sums at offsets from 2 to 60 bytes, k a multiple of the vector or not, a partial last quad.
     */
    @ParameterizedTest(name = "offset={0} N={1} K={2}")
    @org.junit.jupiter.params.provider.CsvSource({"2, 8, 64", "4, 8, 64", "8, 7, 96", "16, 33, 1280", "32, 12, 1280", "32, 9, 32",
        "48, 4, 3072", "60, 13, 160", "32, 5, 40", "20, 6, 4096"})
    void bf16RowsOffTheVectorBoundaryDecodeAsTheReferenceDoes(int offset, int n, int k) {
        try (Arena arena = Arena.ofShared()) {
            long seed = 31L * offset + k;
            SplittableRandom rnd = new SplittableRandom(seed);
            Weights packed = Codecs.encode(arena, Twin.normal(rnd, n * k, 1), n, k, WeightFormat.BF16);
            java.lang.foreign.MemorySegment at = arena.allocate(packed.data().byteSize() + 64, 64).asSlice(offset, packed.data().byteSize());
            at.copyFrom(packed.data());
            Weights w = new Weights(WeightFormat.BF16, n, k, at);
            Buf x = Twin.randn(arena, rnd, k);
            Buf yr = Buf.allocF32(arena, n);
            Buf yc = Buf.allocF32(arena, n);
            Matmul.REF.forward(x, w, null, yr, 1);
            impl().forward(x, w, null, yc, 1);
            String c = "seed=" + seed + " offset " + offset + " BF16 M=1 N=" + n + " K=" + k;
            Twin.assertClose(c, yr, yc, tol(k), 1e-5);
            Buf[] ys = {Buf.allocF32(arena, n), Buf.allocF32(arena, n)};
            impl().forwardMany(x, new Weights[] {w, packed}, null, ys, 1);
            Twin.assertClose(c + " in a job with an aligned copy", yr, ys[0], tol(k), 1e-5);
            Twin.assertClose(c + ": the aligned copy in that job", yr, ys[1], tol(k), 1e-5);
        }
    }

    @Test
    void q8ScalesOfEveryKindDecodeAsTheReferenceDoes() {
        // the decode kernels look Q8_0 block scales up in a table of every fp16 value; scales from a foreign file
        // may be negative, negative zero, subnormal, the largest half or infinite, and must read as the reference
        // reads them (Float.float16ToFloat), one row per kind, over the single-row and the multi-row kernels
        short[] kinds = {(short) 0x3C00, (short) 0xBC00, (short) 0x8000, 0x0001, (short) 0x83FF, 0x7BFF, (short) 0xFBFF,
            0x2E66, (short) 0x7C00, (short) 0xFC00};
        int n = kinds.length;
        int k = 96; // three blocks
        long seed = 77;
        SplittableRandom rnd = new SplittableRandom(seed);
        try (Arena arena = Arena.ofShared()) {
            long rowBytes = WeightFormat.Q8_0.rowBytes(k);
            java.lang.foreign.MemorySegment data = arena.allocate(n * rowBytes);
            for (int r = 0; r < n; r++) {
                for (int b = 0; b < k / 32; b++) {
                    long at = r * rowBytes + b * 34L;
                    // the middle block keeps the kind; the others get random finite scales of either sign
                    short bits = b == 1 ? kinds[r] : (short) ((rnd.nextInt(2) << 15) | (rnd.nextInt(0x7800) + 1));
                    data.set(java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED, at, bits);
                    for (int j = 0; j < 32; j++) {
                        data.set(java.lang.foreign.ValueLayout.JAVA_BYTE, at + 2 + j, (byte) (rnd.nextInt(255) - 127));
                    }
                }
            }
            Weights w = new Weights(WeightFormat.Q8_0, n, k, data);
            // the same weights with every scale and value made positive: sum |w| |x|, which bounds float rounding
            java.lang.foreign.MemorySegment abs = arena.allocate(n * rowBytes);
            for (long at = 0; at < n * rowBytes; at += 34) {
                abs.set(java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED, at,
                        (short) (data.get(java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED, at) & 0x7FFF));
                for (int j = 0; j < 32; j++) {
                    abs.set(java.lang.foreign.ValueLayout.JAVA_BYTE, at + 2 + j, (byte) Math.abs(data.get(java.lang.foreign.ValueLayout.JAVA_BYTE, at + 2 + j)));
                }
            }
            for (int m : new int[] {1, 3}) {
                Buf x = Twin.randn(arena, rnd, m * k);
                Buf yr = Buf.allocF32(arena, (long) m * n);
                Buf yc = Buf.allocF32(arena, (long) m * n);
                Buf xAbs = Buf.allocF32(arena, (long) m * k);
                for (int i = 0; i < m * k; i++) {
                    xAbs.set(i, Math.abs(x.get(i))); // |x| rounds to |rounded x|: the same scales, q of the same size
                }
                Buf size = Buf.allocF32(arena, (long) m * n);
                Matmul.REF.forward(x, w, null, yr, m);
                Matmul.REF.forward(xAbs, new Weights(WeightFormat.Q8_0, n, k, abs), null, size, m);
                impl().forward(x, w, null, yc, m);
                for (int i = 0; i < m * n; i++) {
                    float e = (float) yr.get(i);
                    float a = (float) yc.get(i);
                    if (!Float.isFinite(e)) {
                        // an infinite scale: +inf and -inf terms make NaN or not as the order of the sums decides
                        assertTrue(!Float.isFinite(a), "seed=" + seed + " Q8_0 M=" + m + " N=" + n + " K=" + k + ", output " + i + ": " + e + " against " + a);
                    } else {
                        assertEquals(e, a, size.get(i) * 6e-6 + 1e-30, "seed=" + seed + " Q8_0 M=" + m + " N=" + n + " K=" + k + ", output " + i + " (scale bits "
                                + Integer.toHexString(kinds[i % n] & 0xffff) + ")");
                    }
                }
                assertTrue(!Double.isFinite(yr.get(8)) && !Double.isFinite(yr.get(9)) && Double.isFinite(yr.get(3)) && yr.get(3) != 0,
                        "the rows test what they mean to: " + yr.get(3) + " " + yr.get(8) + " " + yr.get(9));
            }
        }
    }

    @Test
    void knownAnswer() {
        // x = [1 2; 3 4], W = [1 0; 0 1; 1 1] (N=3, K=2), b = [0 0 10] -> y = [1 2 13; 3 4 17]
        try (Arena arena = Arena.ofShared()) {
            Buf x = Buf.ofF64(arena, 1, 2, 3, 4);
            Weights w = Weights.of(Buf.ofF64(arena, 1, 0, 0, 1, 1, 1), 3, 2);
            Buf b = Buf.ofF64(arena, 0, 0, 10);
            Buf y = Buf.allocF64(arena, 6);
            Matmul.REF.forward(x, w, b, y, 2);
            double[] expect = {1, 2, 13, 3, 4, 17};
            for (int i = 0; i < 6; i++) {
                assertEquals(expect[i], y.get(i), 0);
            }
            Buf dx = Buf.allocF64(arena, 4);
            Matmul.REF.backwardInput(Buf.ofF64(arena, 1, 1, 1, 0, 0, 1), w, dx, 2, false);
            assertEquals(2, dx.get(0), 0); // row 0: 1*W0 + 1*W1 + 1*W2 = (2, 2)
            assertEquals(1, dx.get(2), 0); // row 1: W2 = (1, 1)
        }
    }

    @Test
    void rejectsWhatItCannotDo() {
        try (Arena arena = Arena.ofShared()) {
            Weights w64 = Weights.of(Buf.allocF64(arena, 4), 2, 2);
            assertThrows(IllegalArgumentException.class, () -> impl().forward(Buf.allocF32(arena, 2), w64, null, Buf.allocF32(arena, 2), 1));
            Weights w = Weights.of(Buf.allocF32(arena, 4), 2, 2);
            assertThrows(IllegalArgumentException.class, () -> impl().forward(Buf.allocF32(arena, 1), w, null, Buf.allocF32(arena, 2), 1));
        }
    }
}
