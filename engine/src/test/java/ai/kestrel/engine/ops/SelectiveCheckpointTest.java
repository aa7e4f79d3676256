package ai.kestrel.engine.ops;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.kestrel.engine.Autograd;
import ai.kestrel.engine.GradCheck;
import ai.kestrel.engine.Rand;
import ai.kestrel.engine.Scope;
import ai.kestrel.engine.Tensor;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.Test;

/**
 * Selective activation checkpointing ({@link Autograd#checkpoint(String, UnaryOperator, Tensor, List, boolean)}): the
 * frozen products' outputs kept from the first pass and taken by the recomputation.
 */
class SelectiveCheckpointTest {
    private static final int ROWS = 3 * 13;

    /** Frozen w1 (with a bias) and w2 around a trainable low-rank pair a, b, like a LoRA-wrapped layer. */
    private record Net(Tensor w1, Tensor b1, Tensor a, Tensor b, Tensor w2, Tensor c) {
        static Net random(long seed) {
            SplittableRandom rnd = new SplittableRandom(seed);
            return new Net(Rand.normal32(rnd, 0.2, 56, 40), Rand.normal32(rnd, 0.1, 56), Rand.normal32(rnd, 0.2, 4, 56).requiresGrad(true),
                    Rand.normal32(rnd, 0.2, 56, 4).requiresGrad(true), Rand.normal32(rnd, 0.2, 24, 56), Rand.normal32(rnd, 1, 3, 13, 24));
        }

        Tensor layer(Tensor x) {
            Tensor h = Activations.silu(Linalg.linear(x, w1, b1));
            Tensor low = Linalg.linear(Linalg.linear(h, a, null), b, null);
            return Linalg.linear(Arith.add(h, low), w2, null);
        }

        List<Tensor> params() {
            return List.of(w1, b1, a, b, w2);
        }

        Tensor loss(Tensor x, int mode) {
            Tensor y = switch (mode) {
                case 0 -> layer(x);
                case 1 -> Autograd.checkpoint("net", this::layer, x, params(), false);
                default -> Autograd.checkpoint("net", this::layer, x, params(), true);
            };
            return Arith.sum(Arith.mul(y, c));
        }
    }

    /** {x, a, b} gradients of the loss, as float arrays. */
    private static float[][] gradients(Net net, Tensor x, int mode) {
        net.a().zeroGrad();
        net.b().zeroGrad();
        x.zeroGrad();
        Autograd.backward(net.loss(x, mode));
        return new float[][] {x.grad().toFloatArray(), net.a().grad().toFloatArray(), net.b().grad().toFloatArray()};
    }

    @Test
    void keptProductsGiveTheSameGradientsBitForBit() {
        try (Scope s = Scope.open()) {
            Net net = Net.random(1);
            Tensor x = Rand.normal32(new SplittableRandom(2), 1, 3, 13, 40).requiresGrad(true);
            float[][] plain = gradients(net, x, 0);
            float[][] full = gradients(net, x, 1);
            float[][] kept = gradients(net, x, 2);
            String[] names = {"x", "a", "b"};
            for (int i = 0; i < 3; i++) {
                boolean nonzero = false;
                for (float v : plain[i]) {
                    nonzero |= v != 0;
                }
                assertTrue(nonzero, "gradient of " + names[i] + " is all zeros");
                assertArrayEquals(full[i], plain[i], "full checkpointing, gradient of " + names[i]);
                assertArrayEquals(full[i], kept[i], "kept products, gradient of " + names[i]);
            }
        }
    }

    @Test
    void aSecondBackwardReplaysTheKeptProductsAgain() {
        try (Scope s = Scope.open()) {
            Net net = Net.random(9);
            Tensor x = Rand.normal32(new SplittableRandom(10), 1, 3, 13, 40).requiresGrad(true);
            float[] once = gradients(net, x, 2)[1];
            net.a().zeroGrad();
            Tensor loss = net.loss(x, 2);
            Autograd.backward(loss);
            Autograd.backward(loss); // the same graph twice: the gradients add up
            float[] twice = net.a().grad().toFloatArray();
            for (int i = 0; i < once.length; i++) {
                assertEquals(2 * once[i], twice[i], "a's gradient, element " + i);
            }
        }
    }

    @Test
    void theRecomputationTakesTheKeptProducts() {
        // w1 changed between the forward pass and backward: with kept products the recomputation still sees the
        // first pass's w1 product, so a's and b's gradients (which depend on w1 only through it) are the unchanged
        // run's; full checkpointing multiplies again and gets other ones
        try (Scope s = Scope.open()) {
            Tensor x = Rand.normal32(new SplittableRandom(2), 1, 3, 13, 40).requiresGrad(true);
            Net ref = Net.random(1);
            float[][] expected = gradients(ref, x, 0);
            for (int mode = 1; mode <= 2; mode++) {
                Net net = Net.random(1);
                Tensor loss = net.loss(x, mode);
                for (long i = 0; i < net.w1().numel(); i++) {
                    net.w1().setDouble(i, net.w1().getDouble(i) * 1.5);
                }
                Autograd.backward(loss);
                boolean same = java.util.Arrays.equals(expected[1], net.a().grad().toFloatArray())
                        && java.util.Arrays.equals(expected[2], net.b().grad().toFloatArray());
                if (mode == 2) {
                    assertTrue(same, "kept products: the recomputation multiplied again");
                } else {
                    assertFalse(same, "full checkpointing should have recomputed the product with the changed weight");
                }
            }
        }
    }

    @Test
    void keptProductsCostTheirBytesUntilTheScopeCloses() {
        Net net;
        try (Scope params = Scope.detached("params"); var in = params.enter()) {
            net = Net.random(3);
            Tensor x = Rand.normal32(new SplittableRandom(4), 1, 3, 13, 40).requiresGrad(true);
            long base = Scope.liveBytes();
            long[] held = new long[2]; // after the forward pass: full checkpointing, kept products
            for (int mode = 1; mode <= 2; mode++) {
                try (Scope step = Scope.open()) {
                    long before = Scope.liveBytes();
                    net.loss(x, mode);
                    held[mode - 1] = Scope.liveBytes() - before;
                }
                assertEquals(base, Scope.liveBytes(), "mode " + mode + ": the step's scope freed everything");
            }
            // the two frozen products' outputs, float32 (ROWS x 56 and ROWS x 24); the trainable a and b ones are not kept
            assertEquals((long) ROWS * (56 + 24) * 4, held[1] - held[0]);
        }
    }

    @Test
    void aRecomputationThatDiffersThrows() {
        try (Scope s = Scope.open()) {
            Net net = Net.random(5);
            Tensor x = Rand.normal32(new SplittableRandom(6), 1, 3, 13, 40).requiresGrad(true);
            Tensor w3 = Rand.normal32(new SplittableRandom(7), 0.2, 24, 24);
            Tensor w4 = Rand.normal32(new SplittableRandom(8), 0.2, 20, 56);
            // first pass: two frozen products; the recomputation: one more, another shape, one fewer
            List<UnaryOperator<Tensor>> second = List.of(
                    t -> Linalg.linear(net.layer(t), w3, null),
                    t -> Linalg.linear(Activations.silu(Linalg.linear(t, net.w1(), net.b1())), w4, null),
                    t -> Activations.silu(Linalg.linear(t, net.w1(), net.b1())));
            for (UnaryOperator<Tensor> again : second) {
                int[] calls = {0};
                Tensor y = Autograd.checkpoint("varying", t -> calls[0]++ == 0 ? net.layer(t) : again.apply(t), x, net.params(), true);
                IllegalStateException e = assertThrows(IllegalStateException.class, () -> Autograd.backward(Arith.sum(y)));
                assertTrue(e.getMessage().startsWith("varying: ") && e.getMessage().contains("not deterministic"), e.getMessage());
            }
        }
    }

    /**
     * Float64 central differences through a checkpointed piece, plain and selective: x (a leaf), a trainable weight
     * and bias and a low-rank pair inside, around a frozen weight; and a piece whose output does not depend on x,
     * whose gradient to x is then zeros.
     */
    @Test
    void gradientsInFloat64() {
        try (Scope s = Scope.open()) {
            SplittableRandom rnd = new SplittableRandom(41);
            Tensor x = Rand.normal64(rnd, 1, 3, 5, 8).requiresGrad(true);
            Tensor w1 = Rand.normal64(rnd, 0.3, 12, 8).requiresGrad(true);
            Tensor b1 = Rand.normal64(rnd, 0.1, 12).requiresGrad(true);
            Tensor a = Rand.normal64(rnd, 0.3, 3, 12).requiresGrad(true);
            Tensor b = Rand.normal64(rnd, 0.3, 12, 3).requiresGrad(true);
            Tensor w2 = Rand.normal64(rnd, 0.3, 6, 12);
            for (boolean keep : new boolean[] {false, true}) {
                GradCheck.of("checkpoint, keepProducts " + keep).run(in -> Autograd.checkpoint("piece", t -> {
                    Tensor h = Activations.silu(Linalg.linear(t, in[1], in[2]));
                    Tensor low = Linalg.linear(Linalg.linear(h, in[3], null), in[4], null);
                    return Linalg.linear(Arith.add(h, low), w2, null);
                }, in[0], List.of(in[1], in[2], in[3], in[4], w2), keep), x, w1, b1, a, b);
                GradCheck.of("checkpoint not reading x, keepProducts " + keep).run(in -> Autograd.checkpoint("piece",
                        t -> Activations.silu(Linalg.linear(in[1], in[1], null)), in[0], List.of(in[1]), keep), x, w1);
                assertTrue(java.util.Arrays.stream(x.grad().toDoubleArray()).allMatch(v -> v == 0), "x's gradient is zeros");
            }
        }
    }
}
