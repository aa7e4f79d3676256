package ai.kestrel.bench;

import static ai.kestrel.kernels.Vec.F;

import ai.kestrel.kernels.Buf;
import ai.kestrel.kernels.Parallel;
import ai.kestrel.kernels.matmul.Matmul;
import ai.kestrel.kernels.quant.Codecs;
import ai.kestrel.kernels.quant.WeightFormat;
import ai.kestrel.kernels.quant.Weights;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * Issue #2's two speed targets as fractions of this machine's ceilings, each ceiling measured in the same
 * second as the kernel it divides. On a shared VM the DRAM ceiling moved from 28 to 59 GB/s between two JMH runs a
 * minute apart (2026-12-02), so a kernel's JMH rate over a ceiling measured in another run says little; here every
 * round measures the ceiling, then the kernel, then the ceiling again, and the ratio is the kernel's rate over
 * the mean of the two ceilings around it. The table gives the median ratio over the rounds and its range.
 *
 * <ul>
 *   <li>{@code decode}: lm_head (1280 -> 65536) at M = 1 for every weight format, two threads, GB/s over the
 *       weight bytes, against {@code Ceilings.streamSum} run on two threads (each summing its own 256 MB as one
 *       stream), and against the faster of that and {@code Ceilings.streamSum4} (four streams far apart, the way the
 *       decode kernels read their four rows; on this VM four streams read up to 1.4x more than one).
 *   <li>{@code gemm}: F32 1280 -> 3072 at M = 512 on one thread ({@code Parallel.setThreads(1)}), GFLOP/s, against
 *       {@code Ceilings.peakFma} on the same thread.
 * </ul>
 *
 * <pre>
 * scripts/bench --roofline [decode|gemm|all] [--rounds 15] [--formats F32,Q8_0]
 * </pre>
 */
public final class Roofline {
    private static final int K = 1280;
    private static final int LM_HEAD = 65536;
    private static final long STREAM_BYTES = Ceilings.STREAM_BYTES;

    private Roofline() {
    }

    /** One row of the table: a kernel's rates, the ceilings around them and their ratios, one per round. */
    private record Row(String name, String unit, double[] rate, double[] ceiling, double[] ratio) {
    }

    public static void main(String[] args) throws Exception {
        String part = "all";
        int rounds = 15;
        List<WeightFormat> formats = List.of(WeightFormat.F32, WeightFormat.BF16, WeightFormat.F16, WeightFormat.Q8_0,
                WeightFormat.NF4);
        String usage = " (usage: Roofline [decode|gemm|all] [--rounds N] [--formats F32,BF16,F16,Q8_0,NF4])";
        for (int i = 0; i < args.length; i++) {
            if ((args[i].equals("--rounds") || args[i].equals("--formats")) && i + 1 == args.length) {
                throw new IllegalArgumentException(args[i] + " needs a value" + usage);
            }
            switch (args[i]) {
                case "--rounds" -> rounds = Integer.parseInt(args[++i]);
                case "--formats" -> formats = Arrays.stream(args[++i].split(",")).map(WeightFormat::valueOf).toList();
                case "decode", "gemm", "all" -> part = args[i];
                default -> throw new IllegalArgumentException("unknown argument " + args[i] + usage);
            }
        }
        if (rounds < 1) {
            throw new IllegalArgumentException("--rounds must be at least 1, got " + rounds);
        }
        int threads = Parallel.threads();
        List<Row> rows = new ArrayList<>();
        try {
            if (!part.equals("gemm")) {
                rows.addAll(decode(formats, rounds));
            }
            if (!part.equals("decode")) {
                rows.add(gemm(rounds));
            }
        } finally {
            Parallel.setThreads(threads);
        }
        System.out.printf(Locale.ROOT, "%n%d rounds; ratio = the kernel's rate / the mean of the ceilings measured just before and after it%n%n",
                rounds);
        System.out.println("| kernel | rate (median) | rate (min - max) | ceiling (median) | ratio (median) | ratio (min - max) |");
        System.out.println("|---|---|---|---|---|---|");
        for (Row r : rows) {
            System.out.printf(Locale.ROOT, "| %s | %.1f %s | %.1f - %.1f | %.1f %s | %.0f%% | %.0f%% - %.0f%% |%n", r.name(), median(r.rate()),
                    r.unit(), min(r.rate()), max(r.rate()), median(r.ceiling()), r.unit(), 100 * median(r.ratio()), 100 * min(r.ratio()),
                    100 * max(r.ratio()));
        }
    }

    private static List<Row> decode(List<WeightFormat> formats, int rounds) throws Exception {
        Parallel.setThreads(2);
        List<Row> rows = new ArrayList<>();
        try (Arena arena = Arena.ofShared(); ExecutorService pool = Executors.newFixedThreadPool(2)) {
            MemorySegment[] big = {arena.allocate(STREAM_BYTES, 64), arena.allocate(STREAM_BYTES, 64)};
            for (MemorySegment b : big) {
                b.fill((byte) 1); // touched: the first pass would otherwise time page faults
            }
            Buf x = ai.kestrel.train.tour.TourData.randn(arena, K, 2);
            Buf y = Buf.allocF32(arena, LM_HEAD);
            float[] v = new float[LM_HEAD * K];
            SplittableRandom rnd = new SplittableRandom(1);
            for (int i = 0; i < v.length; i++) {
                v[i] = (float) (rnd.nextDouble() * 2 - 1);
            }
            List<Weights> ws = new ArrayList<>();
            for (WeightFormat f : formats) {
                ws.add(Codecs.encode(arena, v, LM_HEAD, K, f));
            }
            v = null;
            // warm-up: the JIT compiles the stream and every decode kernel before the first timed round
            for (int i = 0; i < 3; i++) {
                ceilings(pool, big);
            }
            for (Weights w : ws) {
                for (int i = 0; i < 30; i++) {
                    Matmul.CPU.forward(x, w, null, y, 1);
                }
            }
            // per format and round: the rate, and the ceilings of one stream per thread [0] and of the faster pattern [1]
            double[][] rate = new double[ws.size()][rounds];
            double[][][] ceiling = new double[2][ws.size()][rounds], ratio = new double[2][ws.size()][rounds];
            for (int r = 0; r < rounds; r++) {
                for (int i = 0; i < ws.size(); i++) {
                    Weights w = ws.get(i);
                    double[] before = ceilings(pool, big);
                    double[] t = new double[5];
                    for (int j = 0; j < t.length; j++) {
                        long t0 = System.nanoTime();
                        Matmul.CPU.forward(x, w, null, y, 1);
                        t[j] = (System.nanoTime() - t0) * 1e-9;
                    }
                    double[] after = ceilings(pool, big);
                    rate[i][r] = LM_HEAD * w.format().rowBytes(K) / median(t) / 1e9;
                    for (int c = 0; c < 2; c++) {
                        ceiling[c][i][r] = (before[c] + after[c]) / 2;
                        ratio[c][i][r] = rate[i][r] / ceiling[c][i][r];
                    }
                }
            }
            String[] against = {"streamSum", "max(streamSum, streamSum4)"};
            for (int i = 0; i < ws.size(); i++) {
                for (int c = 0; c < 2; c++) {
                    rows.add(new Row("lm_head 1280->65536 M=1 " + ws.get(i).format() + ", 2 threads / " + against[c] + ", 2 threads",
                            "GB/s", rate[i], ceiling[c][i], ratio[c][i]));
                }
            }
        }
        return rows;
    }

    /** {@link #stream} as one stream per thread, and the faster of its two patterns. */
    private static double[] ceilings(ExecutorService pool, MemorySegment[] big) throws Exception {
        double one = stream(pool, big, false);
        return new double[] {one, Math.max(one, stream(pool, big, true))};
    }

    /** GB/s of two threads each summing its own buffer once ({@code Ceilings.streamSum}, or {@code streamSum4}). */
    private static double stream(ExecutorService pool, MemorySegment[] big, boolean four) throws Exception {
        long t0 = System.nanoTime();
        List<Future<Float>> fs = new ArrayList<>();
        for (MemorySegment b : big) {
            fs.add(pool.submit(() -> four ? Ceilings.sum4(b) : Ceilings.sum(b)));
        }
        float s = 0;
        for (Future<Float> f : fs) {
            s += f.get();
        }
        double sec = (System.nanoTime() - t0) * 1e-9;
        if (s == 42) { // keeps the sums alive
            System.out.print("");
        }
        return big.length * STREAM_BYTES / sec / 1e9;
    }

    private static Row gemm(int rounds) {
        int m = 512, n = 3072;
        Arrays.fill(SEED, 1.0001f);
        Parallel.setThreads(1);
        try (Arena arena = Arena.ofShared()) {
            float[] v = new float[n * K];
            SplittableRandom rnd = new SplittableRandom(1);
            for (int i = 0; i < v.length; i++) {
                v[i] = (float) (rnd.nextDouble() * 2 - 1);
            }
            Weights w = Codecs.encode(arena, v, n, K, WeightFormat.F32);
            Buf x = ai.kestrel.train.tour.TourData.randn(arena, m * K, 2);
            Buf y = Buf.allocF32(arena, (long) m * n);
            for (int i = 0; i < 40; i++) {
                Matmul.CPU.forward(x, w, null, y, m);
                peak();
            }
            double flops = 2.0 * m * n * K;
            double[] rate = new double[rounds], ceiling = new double[rounds], ratio = new double[rounds];
            for (int r = 0; r < rounds; r++) {
                double before = peak();
                double[] t = new double[3];
                for (int j = 0; j < t.length; j++) {
                    long t0 = System.nanoTime();
                    Matmul.CPU.forward(x, w, null, y, m);
                    t[j] = (System.nanoTime() - t0) * 1e-9;
                }
                double after = peak();
                rate[r] = flops / median(t) / 1e9;
                ceiling[r] = (before + after) / 2;
                ratio[r] = rate[r] / ceiling[r];
            }
            return new Row("F32 1280->3072 M=512, 1 thread / peakFma, 1 thread", "GFLOP/s", rate, ceiling, ratio);
        }
    }

    private static final float[] SEED = new float[2 * F.length()];
    private static final float[] SINK = new float[1];

    /** GFLOP/s of one thread's FMAs into 12 independent accumulators ({@code Ceilings.peakFma}), the best of three. */
    private static double peak() {
        double best = 0;
        for (int i = 0; i < 3; i++) {
            long t0 = System.nanoTime();
            SINK[0] += Ceilings.fmas(SEED);
            best = Math.max(best, 2.0 * Ceilings.FMA_ITERS * 12 * F.length() / ((System.nanoTime() - t0) * 1e-9) / 1e9);
        }
        return best;
    }

    private static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        int n = s.length;
        return n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
    }

    private static double min(double[] v) {
        return Arrays.stream(v).min().orElse(Double.NaN);
    }

    private static double max(double[] v) {
        return Arrays.stream(v).max().orElse(Double.NaN);
    }
}
