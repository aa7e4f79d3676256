package ai.kestrel.bench;

import ai.kestrel.kernels.Buf;
import ai.kestrel.kernels.elementwise.Broadcast;
import ai.kestrel.kernels.elementwise.Elementwise;
import java.lang.foreign.Arena;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.TearDown;

/**
 * Element-wise maps and reductions over an MLP activation (rows x 3072): bandwidth-bound, reported in GB/s over the
 * bytes each call must read and write.
 */
public class ElementwiseBench extends BenchBase {
    @Param({"1", "512"})
    int rows;

    Arena arena;
    Buf x, y, z, row, sums;
    int n;

    static double[] work(String method, java.util.function.Function<String, String> param) {
        double rows = Double.parseDouble(param.apply("rows"));
        double n = rows * 3072;
        double streams = switch (method) {
            // two inputs and an output; axpy reads x and y and writes y
            case "mul", "add", "axpy", "siluBackward", "softplusBackward" -> 3;
            // one row of 3072 reused down the rows: a read and a write per element
            case "mulRow" -> 2;
            // reductions read once (their outputs are a row or a column)
            case "sumRows", "sumCols" -> 1;
            default -> 2; // unary maps; dropout reads x and writes y (the mask is drawn, not read)
        };
        return new double[] {0, streams * n * 4};
    }

    @Setup
    public void setup() {
        arena = Arena.ofShared();
        n = rows * 3072;
        x = Data.randn(arena, n, 1, 2);
        z = Data.randn(arena, n, 2, 1);
        y = Buf.allocF32(arena, n);
        row = Data.randn(arena, 3072, 3, 1);
        sums = Buf.allocF32(arena, Math.max(rows, 3072));
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

    @Benchmark
    public void add() {
        Elementwise.CPU.add(x, z, y, rows, 3072, Broadcast.NONE);
    }

    /** A row vector down the rows (a norm weight, a bias): {@code Broadcast.ROW}. */
    @Benchmark
    public void mulRow() {
        Elementwise.CPU.mul(x, row, y, rows, 3072, Broadcast.ROW);
    }

    @Benchmark
    public void scale() {
        Elementwise.CPU.scale(x, 0.5, y, n);
    }

    /** Gradient accumulation, {@code y += alpha * x}. */
    @Benchmark
    public void axpy() {
        Elementwise.CPU.axpy(1e-3, x, y, n);
    }

    @Benchmark
    public void exp() {
        Elementwise.CPU.exp(z, y, n);
    }

    @Benchmark
    public void siluBackward() {
        Elementwise.CPU.siluBackward(z, x, y, n);
    }

    @Benchmark
    public void softplusBackward() {
        Elementwise.CPU.softplusBackward(z, x, y, n);
    }

    /** Column sums (a bias gradient): 3072 outputs. */
    @Benchmark
    public void sumRows() {
        Elementwise.CPU.sumRows(x, sums, rows, 3072, false);
    }

    /** Row sums: one output per row. */
    @Benchmark
    public void sumCols() {
        Elementwise.CPU.sumCols(x, sums, rows, 3072, false);
    }
}
