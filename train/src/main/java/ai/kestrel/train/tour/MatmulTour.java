package ai.kestrel.train.tour;

import ai.kestrel.kernels.Buf;
import ai.kestrel.kernels.matmul.Matmul;
import ai.kestrel.kernels.quant.Codecs;
import ai.kestrel.kernels.quant.WeightFormat;
import ai.kestrel.kernels.quant.Weights;
import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Matrix products at Falcon-H1-1.5B-Deep shapes: prefill/training (M=512, compute-bound: GFLOP/s) and decode
 * (M=1, bandwidth-bound: GB/s over the weight bytes). The reference runs one row and is scaled.
 */
final class MatmulTour implements TourSuite {
    @Override
    public List<TourCase> cases(Arena arena) {
        List<TourCase> cases = new ArrayList<>();
        SplittableRandom rnd = new SplittableRandom(7);
        int m = 512;
        // MLP up 1280 -> 3072 at M = 512, F32 and BF16 weights, forward and both backward products
        for (WeightFormat f : new WeightFormat[] {WeightFormat.F32, WeightFormat.BF16}) {
            int n = 3072;
            int k = 1280;
            Weights w = weights(arena, rnd, n, k, f);
            Buf x = TourData.randn(arena, m * k, 21);
            Buf y = Buf.allocF32(arena, (long) m * n);
            Buf x1 = x.slice(0, k);
            Buf y1 = y.slice(0, n);
            cases.add(new TourCase("matmul fwd " + f, "M=512 K=1280 N=3072", 2.0 * m * n * k, 0,
                    () -> Matmul.REF.forward(x1, w, null, y1, 1), () -> Matmul.CPU.forward(x, w, null, y, m), m));
        }
        {
            int n = 3072;
            int k = 1280;
            Weights w = weights(arena, rnd, n, k, WeightFormat.F32);
            Buf dy = TourData.randn(arena, m * n, 22);
            Buf x = TourData.randn(arena, m * k, 23);
            Buf dx = Buf.allocF32(arena, (long) m * k);
            Buf dw = Buf.allocF32(arena, (long) n * k);
            cases.add(new TourCase("matmul dX=dY·W F32", "M=512 K=1280 N=3072", 2.0 * m * n * k, 0,
                    () -> Matmul.REF.backwardInput(dy.slice(0, n), w, dx.slice(0, k), 1, false),
                    () -> Matmul.CPU.backwardInput(dy, w, dx, m, false), m));
            cases.add(new TourCase("matmul dW+=dYᵀ·X", "M=512 K=1280 N=3072", 2.0 * m * n * k, 0,
                    () -> Matmul.REF.backwardWeight(dy.slice(0, n), x.slice(0, k), dw, 1, n, k),
                    () -> Matmul.CPU.backwardWeight(dy, x, dw, m, n, k), m));
        }
        // lm_head 1280 -> 65536 at M = 1, every weight format: decode is a stream over the weight bytes
        for (WeightFormat f : new WeightFormat[] {WeightFormat.F32, WeightFormat.BF16, WeightFormat.F16, WeightFormat.Q8_0}) {
            int n = 65536;
            int k = 1280;
            Weights w = weights(arena, rnd, n, k, f);
            Buf x = TourData.randn(arena, k, 24);
            Buf y = Buf.allocF32(arena, n);
            cases.add(new TourCase("matmul decode " + f, "M=1 K=1280 N=65536", 2.0 * n * k, w.data().byteSize(),
                    () -> Matmul.REF.forward(x, w, null, y, 1), () -> Matmul.CPU.forward(x, w, null, y, 1)));
        }
        return cases;
    }

    static Weights weights(Arena arena, SplittableRandom rnd, int n, int k, WeightFormat f) {
        float[] v = new float[n * k];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) (rnd.nextDouble() * 2 - 1);
        }
        return Codecs.encode(arena, v, n, k, f);
    }
}
