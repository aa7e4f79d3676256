package ai.kestrel.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.kestrel.engine.ops.Activations;
import ai.kestrel.engine.ops.Arith;
import ai.kestrel.engine.ops.Attentions;
import ai.kestrel.engine.ops.Conv1d;
import ai.kestrel.engine.ops.Embeddings;
import ai.kestrel.engine.ops.Linalg;
import ai.kestrel.engine.ops.Losses;
import ai.kestrel.engine.ops.Norms;
import ai.kestrel.engine.ops.Rotary;
import ai.kestrel.engine.ops.Shapes;
import ai.kestrel.engine.ops.Ssd;
import ai.kestrel.engine.optim.AdamW;
import ai.kestrel.engine.optim.GradClip;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * A training loop of 1,000 forward/backward/update steps on a tiny Falcon-H1-shaped block (embedding, RMSNorm,
 * attention with RoPE beside a Mamba-2 mixer, gated norm, LM head, cross-entropy, clipping, AdamW) must leave
 * native memory flat: every step's tensors live in a scope closed at the end of the step.
 */
class MemoryFlatTest {
    static final int V = 256, D = 64, T = 48, BATCH = 2, H = 4, KV = 2, HP = 16, MH = 4, MP = 16, N = 16, CONV = 4;

    /**
     * Resident memory not explained by the Java heap: RSS minus the heap's committed size. A growing Java heap
     * raises RSS and its committed size together, so it does not show here; a native leak does.
     */
    static long nativeBytes() throws IOException {
        return rssBytes() - Runtime.getRuntime().totalMemory();
    }

    static long rssBytes() throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith("VmRSS:")) {
                return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
            }
        }
        throw new IllegalStateException("no VmRSS in /proc/self/status");
    }

    @Test
    void thousandTrainingStepsLeaveNativeMemoryFlat() throws IOException {
        long atStart = Scope.liveBytes();
        SplittableRandom rnd = new SplittableRandom(1);
        int dSsm = MH * MP;
        int inProj = 2 * dSsm + 2 * N + MH;
        int convDim = dSsm + 2 * N;
        try (Scope params = Scope.detached("params")) {
            List<Tensor> p = new ArrayList<>();
            Tensor emb, wq, wk, wv, wo, win, conv, convB, aLog, dskip, dtBias, gnorm, wout, norm1, norm2, head;
            try (var in = params.enter()) {
                emb = param(p, rnd, 0.5, V, D);
                norm1 = param(p, rnd, 0.1, D);
                wq = param(p, rnd, 0.1, H * HP, D);
                wk = param(p, rnd, 0.1, KV * HP, D);
                wv = param(p, rnd, 0.1, KV * HP, D);
                wo = param(p, rnd, 0.1, D, H * HP);
                win = param(p, rnd, 0.1, inProj, D);
                conv = param(p, rnd, 0.3, convDim, CONV);
                convB = param(p, rnd, 0.1, convDim);
                aLog = param(p, rnd, 0.3, MH);
                dskip = param(p, rnd, 0.3, MH);
                dtBias = param(p, rnd, 0.3, MH);
                gnorm = param(p, rnd, 0.1, dSsm);
                wout = param(p, rnd, 0.1, D, dSsm);
                norm2 = param(p, rnd, 0.1, D);
                head = param(p, rnd, 0.1, V, D);
            }
            int[] ids = new int[BATCH * T];
            int[] labels = new int[BATCH * T];
            for (int i = 0; i < ids.length; i++) {
                ids[i] = rnd.nextInt(V);
                labels[i] = i % T == T - 1 ? -100 : (ids[i] * 7 + 3) % V;
            }
            long baseline = Scope.liveBytes();
            long rssAt100 = 0;
            long stepBytes = 0;
            double firstLoss = 0;
            double lastLoss = 0;
            try (AdamW opt = new AdamW(p, 3e-3, 0.9, 0.999, 1e-8, 0.01)) {
                long afterOptimizer = Scope.liveBytes();
                long paramBytes = p.stream().mapToLong(t -> t.numel() * 4).sum();
                assertTrue(afterOptimizer > baseline, "the optimizer's moments are accounted");
                for (int step = 0; step < 1000; step++) {
                    try (Scope s = Scope.open()) {
                        for (Tensor t : p) {
                            t.zeroGrad();
                        }
                        Tensor x = Embeddings.lookup(emb, Tensor.ofInts(ids, BATCH, T));
                        Tensor h = Norms.rmsNorm(x, norm1, 1e-5);
                        // attention branch
                        Tensor q = Rotary.rope(Linalg.linear(h, wq, null).view(BATCH, T, H, HP), 0, 1e4);
                        Tensor k = Rotary.rope(Linalg.linear(h, wk, null).view(BATCH, T, KV, HP), 0, 1e4);
                        Tensor v = Linalg.linear(h, wv, null).view(BATCH, T, KV, HP);
                        Tensor attn = Linalg.linear(Attentions.causal(q, k, v, 0.25).view(BATCH, T, H * HP), wo, null);
                        // Mamba-2 branch: in_proj -> z | xBC | dt, conv + SiLU, SSD, gated norm, out_proj
                        Tensor[] zxd = Shapes.split(Linalg.linear(h, win, null), -1, dSsm, convDim, MH);
                        Tensor xbc = Activations.silu(Conv1d.causal(zxd[1], conv, convB));
                        Tensor[] xs = Shapes.split(xbc, -1, dSsm, N, N);
                        Tensor a = Arith.scale(Activations.exp(aLog), -1);
                        Tensor y = Ssd.scan(xs[0].view(BATCH, T, MH, MP), zxd[2], dtBias, a, xs[1].view(BATCH, T, 1, N),
                                xs[2].view(BATCH, T, 1, N), dskip, null, 16).y();
                        Tensor mamba = Linalg.linear(Norms.gatedRmsNorm(y.view(BATCH, T, dSsm), zxd[0], gnorm, 1, 1e-5), wout, null);
                        Tensor out = Arith.add(x, Arith.add(attn, mamba));
                        Tensor logits = Linalg.linear(Norms.rmsNorm(out, norm2, 1e-5), head, null);
                        Tensor loss = Losses.crossEntropy(logits, Tensor.ofInts(labels, BATCH, T));
                        Autograd.backward(loss);
                        GradClip.clipGlobalNorm(p, 1.0);
                        opt.update();
                        lastLoss = loss.item();
                        if (step == 0) {
                            firstLoss = lastLoss;
                            stepBytes = s.bytes();
                        }
                    }
                    // everything the step made is gone; what stays is the gradients, made once in the parameters' scope
                    assertEquals(afterOptimizer + paramBytes, Scope.liveBytes(), "live native bytes after step " + step);
                    if (step == 99) {
                        rssAt100 = nativeBytes();
                    }
                }
                long growth = nativeBytes() - rssAt100;
                long leakIfAny = 900L * stepBytes;
                System.out.printf("memory: %d bytes per step in scope, native (RSS - heap) growth over steps 100-1000: %d KB (a leak would be %d MB); loss %.3f -> %.3f%n",
                        stepBytes, growth / 1024, leakIfAny >> 20, firstLoss, lastLoss);
                assertTrue(leakIfAny > 4 * (64L << 20), "the steps must allocate enough for a leak to show: " + stepBytes);
                assertTrue(growth < (64L << 20), "native memory (RSS - heap) grew by " + (growth >> 20) + " MB over 900 steps");
                assertTrue(lastLoss < firstLoss * 0.5, "the loop trains: loss " + firstLoss + " -> " + lastLoss);
            }
            long gradBytes = p.stream().mapToLong(t -> t.grad().numel() * 4).sum();
            assertEquals(baseline + gradBytes, Scope.liveBytes(), "closing the optimizer frees its moments");
        }
        assertEquals(atStart, Scope.liveBytes(), "closing the parameters' scope frees parameters and gradients");
    }

    private static Tensor param(List<Tensor> list, SplittableRandom rnd, double scale, long... shape) {
        Tensor t = Rand.normal32(rnd, scale, shape).requiresGrad(true);
        list.add(t);
        return t;
    }
}
