package ai.kestrel.bench;

import ai.kestrel.kernels.cuda.Cuda;
import ai.kestrel.kernels.cuda.DevBuf;
import ai.kestrel.kernels.cuda.ElementwiseCuda;
import ai.kestrel.kernels.elementwise.Broadcast;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * The GPU benchmark table: each kernel at Falcon-H1-1.5B-Deep shapes, timed by CUDA events (median of repeated
 * launches after warm-up), next to the ceiling measured in the same run (device-to-device copy bandwidth for
 * memory-bound kernels). Run from the folder {@code scripts/pack-gpu} makes: {@code ./run-gpu-bench [filter]}.
 */
public final class GpuBench {
    private GpuBench() {}

    /** Launches before timing, and timed launches (the median is reported); -Dkestrel.bench.reps=1 for a smoke run. */
    private static final int WARMUP = Integer.getInteger("kestrel.bench.warmup", 3);
    private static final int REPS = Integer.getInteger("kestrel.bench.reps", 15);

    record Row(String name, String shape, double ms, double amount, String unit, double ceiling) {
        double rate() {
            return amount / (ms * 1e-3);
        }
    }

    private static final List<Row> rows = new ArrayList<>();
    private static String filter = "";

    /** Median milliseconds of {@code work} over {@link #REPS} timed runs after {@link #WARMUP}. */
    static double median(Cuda c, Runnable work) {
        for (int i = 0; i < WARMUP; i++) {
            work.run();
        }
        c.synchronize();
        double[] t = new double[Math.max(1, REPS)];
        for (int i = 0; i < t.length; i++) {
            t[i] = c.timeMs(work);
        }
        Arrays.sort(t);
        return t[t.length / 2];
    }

    /** A device buffer of {@code n} float32 values drawn from N(0, scale^2). */
    static DevBuf randn(Cuda c, long n, double scale, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        try (java.lang.foreign.Arena a = java.lang.foreign.Arena.ofConfined()) {
            java.lang.foreign.MemorySegment s = a.allocate(n * 4, 64);
            for (long i = 0; i < n; i++) {
                s.setAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT, i, (float) (rnd.nextGaussian() * scale));
            }
            return c.copyOf(s);
        }
    }

    static boolean wanted(String name) {
        return filter.isEmpty() || name.contains(filter);
    }

    static void add(String name, String shape, double ms, double amount, String unit, double ceiling) {
        rows.add(new Row(name, shape, ms, amount, unit, ceiling));
        System.out.printf(Locale.ROOT, "  %-34s %-28s %9.4f ms %10.1f %s%n", name, shape, ms,
                amount / (ms * 1e-3) / (unit.equals("GB/s") ? 1e9 : 1e12), unit);
    }

    public static void main(String[] args) {
        filter = args.length > 0 ? args[0] : "";
        Cuda c = Cuda.get();
        System.out.println("GPU: " + c.describe());
        // Ceiling: a 4 GiB device-to-device copy, bytes read + written
        long copyBytes = 4L << 30;
        double copyGBs;
        try (DevBuf a = c.allocZeroed(copyBytes); DevBuf b = c.allocZeroed(copyBytes)) {
            double ms = median(c, () -> c.copy(a, b, copyBytes));
            copyGBs = 2.0 * copyBytes / (ms * 1e-3) / 1e9;
            add("ceiling: device copy", "4 GiB", ms, 2.0 * copyBytes, "GB/s", 0);
        }
        double bw = copyGBs * 1e9;
        if (wanted("elementwise")) {
            long n = 512L * 1280 * 64;
            try (DevBuf x = randn(c, n, 1, 1); DevBuf y = randn(c, n, 1, 2); DevBuf z = c.alloc(n * 4)) {
                double ms = median(c, () -> ElementwiseCuda.add(c, x, y, z, (int) (n / 1280), 1280, Broadcast.NONE));
                add("elementwise add", "(32768, 1280)", ms, 12.0 * n, "GB/s", bw);
                double ms2 = median(c, () -> ElementwiseCuda.unary(c, "ew_silu", x, z, n));
                add("elementwise silu", "(32768, 1280)", ms2, 8.0 * n, "GB/s", bw);
            }
        }
        BenchCases.run(c, bw);
        print();
    }

    static void print() {
        System.out.println();
        System.out.println("| kernel | shape | median ms | rate | of ceiling |");
        System.out.println("| --- | --- | ---: | ---: | ---: |");
        for (Row r : rows) {
            double scale = r.unit().equals("GB/s") ? 1e9 : 1e12;
            String frac = r.ceiling() > 0 ? String.format(Locale.ROOT, "%.0f%%", 100 * r.rate() / r.ceiling()) : "";
            System.out.printf(Locale.ROOT, "| %s | %s | %.4f | %.1f %s | %s |%n", r.name(), r.shape(), r.ms(),
                    r.rate() / scale, r.unit(), frac);
        }
    }
}
