package ai.kestrel.train.tour;

import ai.kestrel.kernels.Buf;
import ai.kestrel.kernels.embedding.Embedding;
import ai.kestrel.kernels.loss.CrossEntropy;
import ai.kestrel.kernels.optim.AdamW;
import ai.kestrel.kernels.quant.Codecs;
import ai.kestrel.kernels.quant.WeightFormat;
import ai.kestrel.kernels.quant.Weights;
import ai.kestrel.kernels.rope.Rope;
import ai.kestrel.kernels.softmax.Softmax;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;

/** RoPE, softmax, embedding gather, cross-entropy over the 65536 vocabulary, and AdamW: bandwidth-bound kernels. */
final class MiscTour implements TourSuite {
    @Override
    public List<TourCase> cases(Arena arena) {
        int t = 512;
        Buf q = TourData.randn(arena, t * 6 * 128, 1);
        Buf qo = Buf.allocF32(arena, (long) t * 6 * 128);
        Buf s = TourData.randn(arena, t * 512, 2);
        Buf so = Buf.allocF32(arena, (long) t * 512);
        int v = 65536;
        int d = 1280;
        float[] tv = new float[v * d];
        for (int i = 0; i < tv.length; i++) {
            tv[i] = (i % 97) * 0.01f - 0.5f;
        }
        Weights table = Codecs.encode(arena, tv, v, d, WeightFormat.BF16);
        MemorySegment ids = arena.allocate(t * 4L, 4);
        for (int i = 0; i < t; i++) {
            ids.setAtIndex(ValueLayout.JAVA_INT, i, (i * 7919) % v);
        }
        Buf emb = Buf.allocF32(arena, (long) t * d);
        int rows = 64;
        Buf logits = TourData.randn(arena, rows * v, 3);
        Buf loss = Buf.allocF32(arena, rows);
        Buf lse = Buf.allocF32(arena, rows);
        int np = 4_000_000;
        Buf p = TourData.randn(arena, np, 4);
        Buf g = TourData.randn(arena, np, 5);
        Buf m = Buf.allocF32(arena, np);
        Buf vv = Buf.allocF32(arena, np);
        return List.of(
                new TourCase("rope", "T=512 H=6 P=128", 0, 2.0 * t * 6 * 128 * 4,
                        () -> Rope.REF.forward(q, qo, 1, t, 6, 128, 0, 1e11), () -> Rope.CPU.forward(q, qo, 1, t, 6, 128, 0, 1e11)),
                new TourCase("softmax", "rows=512 D=512", 0, 2.0 * t * 512 * 4,
                        () -> Softmax.REF.forward(s, so, t, 512), () -> Softmax.CPU.forward(s, so, t, 512)),
                new TourCase("embedding gather BF16", "M=512 V=65536 D=1280", 0, t * d * 6.0,
                        () -> Embedding.REF.gather(table, ids, t, emb), () -> Embedding.CPU.gather(table, ids, t, emb)),
                new TourCase("cross-entropy fwd", "rows=64 V=65536", 0, (double) rows * v * 4,
                        () -> CrossEntropy.REF.forward(logits, ids, rows, v, loss, lse), () -> CrossEntropy.CPU.forward(logits, ids, rows, v, loss, lse)),
                new TourCase("adamw step", "4M parameters", 0, 7.0 * np * 4,
                        () -> AdamW.REF.step(p, g, m, vv, np, 1e-4, 0.9, 0.999, 1e-8, 0.01, 3),
                        () -> AdamW.CPU.step(p, g, m, vv, np, 1e-4, 0.9, 0.999, 1e-8, 0.01, 3)));
    }
}
