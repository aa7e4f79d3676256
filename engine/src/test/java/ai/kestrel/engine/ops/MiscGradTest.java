package ai.kestrel.engine.ops;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import ai.kestrel.engine.Autograd;
import ai.kestrel.engine.DType;
import ai.kestrel.engine.GradCheck;
import ai.kestrel.engine.Rand;
import ai.kestrel.engine.Scope;
import ai.kestrel.engine.Tensor;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** Gradient checks of softmax, RoPE, embedding and cross-entropy. */
class MiscGradTest {
    @Test
    void softmax() {
        try (Scope s = Scope.open()) {
            Tensor x = Rand.normal64(new SplittableRandom(31), 2, 3, 9).requiresGrad(true);
            GradCheck.of("softmax").run(in -> Probabilities.softmax(in[0]), x);
        }
    }

    @Test
    void rope() {
        try (Scope s = Scope.open()) {
            Tensor x = Rand.normal64(new SplittableRandom(32), 1, 2, 5, 3, 8).requiresGrad(true);
            GradCheck.of("rope").run(in -> Rotary.rope(in[0], 7, 1e11), x);
        }
    }

    @Test
    void embeddingIntoAFloatTable() {
        try (Scope s = Scope.open()) {
            Tensor table = Rand.normal64(new SplittableRandom(33), 1, 6, 5).requiresGrad(true);
            Tensor ids = Tensor.ofInts(new int[] {1, 4, 1, 0, 5, 1}, 2, 3);
            GradCheck.of("embedding").run(in -> Embeddings.lookup(in[0], ids), table);
            assertArrayEquals(new long[] {2, 3, 5}, Embeddings.lookup(table, ids).shape());
        }
    }

    @Test
    void crossEntropyWithIgnoredRows() {
        try (Scope s = Scope.open()) {
            Tensor logits = Rand.normal64(new SplittableRandom(34), 2, 2, 3, 11).requiresGrad(true);
            Tensor labels = Tensor.ofInts(new int[] {3, -100, 10, 0, -100, 7}, 2, 3);
            GradCheck.of("crossEntropy").run(in -> Losses.crossEntropy(in[0], labels), logits);
        }
    }

    @Test
    void crossEntropyIsTheMeanOverKeptRowsAndZeroWhenAllIgnored() {
        try (Scope s = Scope.open()) {
            Tensor logits = Tensor.of(new float[] {0, 0, 0, 0, 0, 0, 5, 0, 0}, 3, 3).requiresGrad(true);
            Tensor labels = Tensor.ofInts(new int[] {1, -100, 0}, 3);
            double l0 = Math.log(3);
            double l2 = Math.log(Math.exp(5) + 2) - 5;
            assertEquals((l0 + l2) / 2, Losses.crossEntropy(logits, labels).item(), 1e-6);
            Tensor none = Tensor.ofInts(new int[] {-100, -100, -100}, 3);
            Tensor loss = Losses.crossEntropy(logits, none);
            assertEquals(0.0, loss.item());
            Autograd.backward(loss);
            for (float g : logits.grad().toFloatArray()) {
                assertEquals(0f, g);
            }
        }
    }

    @Test
    void quantizedEmbeddingTablesAreFrozen() {
        try (Scope s = Scope.open()) {
            Tensor t32 = Rand.normal32(new SplittableRandom(35), 1, 4, 32);
            Tensor q = Casts.to(t32, DType.Q8_0);
            Tensor out = Embeddings.lookup(q, Tensor.ofInts(new int[] {2, 3}, 2));
            float[] row2 = Casts.to(q, DType.F32).toFloatArray();
            for (int c = 0; c < 32; c++) {
                assertEquals(row2[2 * 32 + c], out.toFloatArray()[c]);
            }
            assertNull(out.gradFnName());
        }
    }

    @Test
    void attentionWithGroupedHeads() {
        try (Scope s = Scope.open()) {
            SplittableRandom rnd = new SplittableRandom(36);
            Tensor q = Rand.normal64(rnd, 1, 2, 5, 4, 3).requiresGrad(true);
            Tensor k = Rand.normal64(rnd, 1, 2, 5, 2, 3).requiresGrad(true);
            Tensor v = Rand.normal64(rnd, 1, 2, 5, 2, 3).requiresGrad(true);
            GradCheck.of("attention").run(in -> Attentions.causal(in[0], in[1], in[2], 0.7), q, k, v);
        }
    }

    /**
     * Attention over an F16 KV cache computes what it computes over an F32 cache holding the same (rounded) values: F32
     * queries through the CPU kernel (decode rows and a prompt chunk), F64 queries through the reference; caches
     * of two types, or copies between types that do not convert, are refused by name.
     */
    @Test
    void cachedAttentionReadsAHalfPrecisionCache() {
        try (Scope s = Scope.open()) {
            SplittableRandom rnd = new SplittableRandom(37);
            Tensor k = Rand.normal32(rnd, 1.2, 2, 300, 2, 32);
            Tensor v = Rand.normal32(rnd, 1, 2, 300, 2, 32);
            Tensor kh = Tensor.zeros(DType.F16, k.shape());
            Tensor vh = Tensor.zeros(DType.F16, v.shape());
            Tensor kr = Tensor.zeros(DType.F32, k.shape());
            Tensor vr = Tensor.zeros(DType.F32, v.shape());
            Casts.copyElements(k, 0, kh, 0, k.numel());
            Casts.copyElements(v, 0, vh, 0, v.numel());
            Casts.copyElements(kh, 0, kr, 0, k.numel());
            Casts.copyElements(vh, 0, vr, 0, v.numel());
            assertEquals(Float.float16ToFloat(Float.floatToFloat16((float) k.getDouble(77))), kr.getDouble(77));
            for (int tq : new int[] {1, 3, 9}) {
                Tensor q = Rand.normal32(rnd, 1, 2, tq, 6, 32);
                int length = 250 + tq;
                float[] half = Attentions.cached(q, kh, vh, length, 0.2).toFloatArray();
                float[] wide = Attentions.cached(q, kr, vr, length, 0.2).toFloatArray();
                for (int i = 0; i < wide.length; i++) {
                    assertEquals(wide[i], half[i], 1e-5, tq + " query rows, element " + i);
                }
                Tensor q64 = Casts.to(q, DType.F64);
                float[] ref = Attentions.cached(q64, kh, vh, length, 0.2).toFloatArray();
                for (int i = 0; i < wide.length; i++) {
                    assertEquals(wide[i], ref[i], 1e-5, tq + " query rows, float64 reference, element " + i);
                }
            }
            Tensor q = Rand.normal32(rnd, 1, 2, 1, 6, 32);
            var mixed = assertThrows(IllegalArgumentException.class, () -> Attentions.cached(q, kh, vr, 4, 0.2));
            assertEquals("cached attention: the key cache is F16 and the value cache F32; they must agree", mixed.getMessage());
            var noConversion = assertThrows(IllegalArgumentException.class, () -> Casts.copyElements(Casts.to(k, DType.F64), 0, kh, 0, 4));
            assertEquals("no element copy from F64 to F16 (F32 and F16 convert; otherwise the dtypes must match)", noConversion.getMessage());
            assertThrows(IndexOutOfBoundsException.class, () -> Casts.copyElements(k, k.numel() - 2, kh, 0, 4));
        }
    }
}
