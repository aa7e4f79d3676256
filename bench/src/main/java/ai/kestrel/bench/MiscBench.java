package ai.kestrel.bench;

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
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.TearDown;

/**
 * The bandwidth-bound kernels at Falcon-H1-1.5B-Deep shapes, for {@code m} tokens: RoPE on 6 heads of 128,
 * softmax rows of 512, embedding gather from the 65536 x 1280 table (BF16 as shipped), cross-entropy over
 * 65536 logits (forward + backward), AdamW over 10 M parameters and their sum of squares (gradient-norm clipping;
 * both independent of m), and the backward passes of RoPE, softmax and the embedding (scatter-add into a float32
 * table gradient).
 */
public class MiscBench extends BenchBase {
    @Param({"1", "512"})
    int m;

    Arena arena;
    Buf q, qOut, scores, probs, dprobs, dscores, emb, dEmb, dTable, logits, dlogits, loss, lse, p, g, mom, vel;
    Weights table;
    MemorySegment ids, labels;
    static final int V = 65536, D = 1280, ADAM = 10_000_000;

    static double[] work(String method, java.util.function.Function<String, String> param) {
        double m = Double.parseDouble(param.apply("m"));
        return switch (method) {
            case "rope" -> new double[] {0, 2 * m * 6 * 128 * 4};
            case "softmax" -> new double[] {0, 2 * m * 512 * 4};
            case "embeddingBf16" -> new double[] {0, m * D * (2 + 4)};
            case "crossEntropy" -> new double[] {0, 3 * m * V * 4};
            case "adamw" -> new double[] {0, 7.0 * ADAM * 4};
            case "ropeBackward" -> new double[] {0, 2 * m * 6 * 128 * 4};
            case "softmaxBackward" -> new double[] {0, 3 * m * 512 * 4};
            // dOut read, the table gradient's rows read and written
            case "embeddingScatterAdd" -> new double[] {0, 3 * m * D * 4};
            case "sumSquares" -> new double[] {2.0 * ADAM, 1.0 * ADAM * 4};
            default -> new double[] {0, 0};
        };
    }

    @Setup
    public void setup() {
        arena = Arena.ofShared();
        q = Data.randn(arena, (long) m * 6 * 128, 1, 1);
        qOut = Buf.allocF32(arena, (long) m * 6 * 128);
        scores = Data.randn(arena, (long) m * 512, 2, 3);
        probs = Buf.allocF32(arena, (long) m * 512);
        float[] t = new float[V * D];
        java.util.SplittableRandom rnd = new java.util.SplittableRandom(3);
        for (int i = 0; i < t.length; i++) {
            t[i] = (float) (rnd.nextDouble() - 0.5);
        }
        table = Codecs.encode(arena, t, V, D, WeightFormat.BF16);
        ids = Data.ids(arena, m, V, 4);
        emb = Buf.allocF32(arena, (long) m * D);
        logits = Data.randn(arena, (long) m * V, 5, 3);
        dlogits = Buf.allocF32(arena, (long) m * V);
        labels = Data.ids(arena, m, V, 6);
        loss = Buf.allocF32(arena, m);
        lse = Buf.allocF32(arena, m);
        p = Data.randn(arena, ADAM, 7, 1);
        g = Data.randn(arena, ADAM, 8, 1);
        mom = Buf.allocF32(arena, ADAM);
        vel = Buf.allocF32(arena, ADAM);
        Softmax.CPU.forward(scores, probs, m, 512); // the backward reads the forward's output
        dprobs = Data.randn(arena, (long) m * 512, 9, 1);
        dscores = Buf.allocF32(arena, (long) m * 512);
        dEmb = Data.randn(arena, (long) m * D, 10, 1);
        dTable = Buf.allocF32(arena, (long) V * D);
    }

    @TearDown
    public void tearDown() {
        arena.close();
    }

    @Benchmark
    public void rope() {
        Rope.CPU.forward(q, qOut, 1, m, 6, 128, 4096, 1e11);
    }

    @Benchmark
    public void softmax() {
        Softmax.CPU.forward(scores, probs, m, 512);
    }

    @Benchmark
    public void embeddingBf16() {
        Embedding.CPU.gather(table, ids, m, emb);
    }

    @Benchmark
    public void crossEntropy() {
        CrossEntropy.CPU.forward(logits, labels, m, V, loss, lse);
        CrossEntropy.CPU.backward(logits, labels, lse, 1.0 / m, dlogits, m, V);
    }

    @Benchmark
    public void adamw() {
        AdamW.CPU.step(p, g, mom, vel, ADAM, 1e-4, 0.9, 0.999, 1e-8, 0.01, 10);
    }

    @Benchmark
    public void ropeBackward() {
        Rope.CPU.backward(q, qOut, 1, m, 6, 128, 4096, 1e11);
    }

    @Benchmark
    public void softmaxBackward() {
        Softmax.CPU.backward(dprobs, probs, dscores, m, 512);
    }

    /** The embedding's backward: each token's gradient row added into its row of the (65536, 1280) table gradient. */
    @Benchmark
    public void embeddingScatterAdd() {
        Embedding.CPU.scatterAdd(dEmb, ids, m, dTable, V, D);
    }

    /** The global gradient norm's sum of squares, as clipping takes it. */
    @Benchmark
    public double sumSquares() {
        return AdamW.CPU.sumSquares(g, ADAM);
    }
}
