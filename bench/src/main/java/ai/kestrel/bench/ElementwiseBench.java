package ai.kestrel.bench;

import ai.kestrel.kernels.Buf;
import ai.kestrel.kernels.elementwise.Broadcast;
import ai.kestrel.kernels.elementwise.Elementwise;
import java.lang.foreign.Arena;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.TearDown;

/** Element-wise maps over an MLP activation (rows x 3072): bandwidth-bound, reported in GB/s. */
public class ElementwiseBench extends BenchBase {
    @Param({"1", "512"})
    int rows;

    Arena arena;
    Buf x, y, z;
    int n;

    static double[] work(String method, java.util.function.Function<String, String> param) {
        double n = Double.parseDouble(param.apply("rows")) * 3072;
        return new double[] {0, (method.equals("mul") ? 3 : 2) * n * 4}; // dropout: x read, y written (the mask is drawn)
    }

    @Setup
    public void setup() {
        arena = Arena.ofShared();
        n = rows * 3072;
        x = Data.randn(arena, n, 1, 2);
        z = Data.randn(arena, n, 2, 1);
        y = Buf.allocF32(arena, n);
    }

    @TearDown
    public void tearDown() {
        arena.close();
    }

    @Benchmark
    public void silu() {
        Elementwise.CPU.silu(x, y, n);
    }

    @Benchmark
    public void softplus() {
        Elementwise.CPU.softplus(x, y, n);
    }

    /** LoRA's dropout at p = 0.1: the mask drawn from the seed (a 64-bit mix per element) and applied. */
    @Benchmark
    public void dropout() {
        Elementwise.CPU.dropout(x, y, n, 0.1, (float) (1 / 0.9), 42);
    }

    @Benchmark
    public void mul() {
        Elementwise.CPU.mul(x, z, y, rows, 3072, Broadcast.NONE);
    }
}
