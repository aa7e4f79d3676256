package ai.kestrel.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import ai.kestrel.engine.ops.Activations;
import ai.kestrel.engine.ops.Arith;
import ai.kestrel.engine.ops.Linalg;
import ai.kestrel.engine.ops.Losses;
import ai.kestrel.engine.ops.Norms;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIf;

/**
 * Tensors on the GPU: moved there and back, and a small forward/backward graph whose every op runs its CUDA kernel
 * gives the CPU's loss and gradients.
 */
@Tag("cuda")
@EnabledIf(value = "ai.kestrel.kernels.cuda.Cuda#available", disabledReason = "no CUDA device (Cuda.unavailableReason() says which part is missing)")
class CudaEngineTest {
    @Test
    void tensorsRoundTripThroughTheGpu() {
        try (Scope s = Scope.open()) {
            Tensor x = Rand.normal32(new SplittableRandom(1), 1, 7, 33);
            Tensor g = x.to(Device.CUDA);
            assertEquals(Device.CUDA, g.device());
            assertEquals(Device.CPU, g.to(Device.CPU).device());
            org.junit.jupiter.api.Assertions.assertArrayEquals(x.toFloatArray(), g.toFloatArray());
            org.junit.jupiter.api.Assertions.assertArrayEquals(x.toFloatArray(), g.to(Device.CPU).toFloatArray());
            Tensor z = Tensor.zerosLike(g);
            assertEquals(Device.CUDA, z.device());
            assertEquals(0.0, z.toDoubleArray()[32]);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Arith.add(x, g));
            org.junit.jupiter.api.Assertions.assertTrue(e.getMessage().contains("Tensor.to"), e.getMessage());
        }
    }

    /**
     * GPU tensors made outside any scope go back to the device allocator once unreachable, and not before: a view
     * of one keeps the whole buffer (before, the global scope's buffers were never returned).
     */
    @Test
    void globalGpuTensorsGoBackOnceUnreachable() throws InterruptedException {
        ai.kestrel.kernels.cuda.Cuda cuda = ai.kestrel.kernels.cuda.Cuda.get();
        long before = cuda.liveBytes();
        Tensor t = Tensor.zeros(Scope.global(), Device.CUDA, DType.F32, 256, 1024); // 1 MiB
        Tensor view = t.rows(3, 2);
        long held = cuda.liveBytes() - before;
        org.junit.jupiter.api.Assertions.assertTrue(held >= 1 << 20, "held " + held);
        t = null;
        collect();
        assertEquals(before + held, cuda.liveBytes(), "the view holds the buffer");
        assertEquals(0.0, view.toDoubleArray()[1023]);
        view = null;
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (cuda.liveBytes() != before && System.nanoTime() < deadline) {
            collect();
        }
        assertEquals(before, cuda.liveBytes(), "returned to the allocator");
    }

    /** The device allocator's peak, through Device: raised by a buffer, kept after it is freed, reset to what is live. */
    @Test
    void devicePeakBytes() {
        ai.kestrel.kernels.cuda.Cuda cuda = ai.kestrel.kernels.cuda.Cuda.get();
        Device.CUDA.resetPeak();
        long base = cuda.liveBytes();
        assertEquals(base, Device.CUDA.peakBytes());
        try (Scope s = Scope.open()) {
            Tensor.zeros(s, Device.CUDA, DType.F32, 1024, 1024); // 4 MiB, a whole size class
        }
        assertEquals(base, cuda.liveBytes());
        assertEquals(base + (4L << 20), Device.CUDA.peakBytes());
        Device.CUDA.resetPeak();
        assertEquals(base, Device.CUDA.peakBytes());
    }

    private static void collect() throws InterruptedException {
        System.gc();
        Thread.sleep(50);
    }

    /** rmsNorm -> silu -> mul -> linear -> cross-entropy and mean, on one device; returns {loss, dx, dw, dv, dl, db}. */
    private static float[][] run(Device dev, Tensor x0, Tensor w0, Tensor v0, Tensor l0, Tensor b0, Tensor labels) {
        Tensor x = x0.to(dev).requiresGrad(true);
        Tensor w = w0.to(dev).requiresGrad(true);
        Tensor v = v0.to(dev).requiresGrad(true);
        Tensor l = l0.to(dev).requiresGrad(true);
        Tensor b = b0.to(dev).requiresGrad(true);
        Tensor h = Arith.mul(Activations.silu(Norms.rmsNorm(x, w, 1e-5)), v);
        Tensor logits = Linalg.linear(h, l, b);
        Tensor loss = Arith.add(Losses.crossEntropy(logits, labels), Arith.scale(Arith.mean(logits), 0.1));
        Autograd.backward(loss);
        return new float[][] {{(float) loss.item()}, x.grad().toFloatArray(), w.grad().toFloatArray(),
            v.grad().toFloatArray(), l.grad().toFloatArray(), b.grad().toFloatArray()};
    }

    @Test
    void aSmallGraphGivesTheCpusLossAndGradients() {
        try (Scope s = Scope.open()) {
            SplittableRandom rnd = new SplittableRandom(5);
            int rows = 19, d = 257, vocab = 37; // 19 rows: the tiled matmul path (more than 16 rows)
            Tensor x = Rand.normal32(rnd, 2, rows, d);
            Tensor w = Rand.normal32(rnd, 1, d);
            Tensor v = Rand.normal32(rnd, 1, rows, d);
            Tensor l = Rand.normal32(rnd, 0.1, vocab, d);
            Tensor b = Rand.normal32(rnd, 0.1, vocab);
            int[] lab = new int[rows];
            for (int r = 0; r < rows; r++) {
                lab[r] = r == 3 ? -100 : (r * 31) % vocab;
            }
            Tensor labels = Tensor.ofInts(lab, rows);
            float[][] cpu = run(Device.CPU, x, w, v, l, b, labels);
            float[][] gpu = run(Device.CUDA, x, w, v, l, b, labels);
            String[] names = {"loss", "dx", "dw", "dv", "dlinear", "dbias"};
            for (int k = 0; k < cpu.length; k++) {
                for (int i = 0; i < cpu[k].length; i++) {
                    assertEquals(cpu[k][i], gpu[k][i], 1e-4 + 1e-4 * Math.abs(cpu[k][i]), names[k] + "[" + i + "]");
                }
            }
        }
    }
}
