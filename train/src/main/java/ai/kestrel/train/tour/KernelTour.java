package ai.kestrel.train.tour;

import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * Times each kernel against its reference and prints a table: the built-in main job until the demo lands.
 * The fast kernel is warmed up and timed as a median; the reference is timed once or twice (it is slow by
 * design). Timings are wall-clock on a shared machine: read the ratios, not the digits.
 */
public final class KernelTour {
    /** Every family's suite, in the order the table prints them. */
    public static List<TourSuite> suites() {
        return List.of(new MatmulTour(), new MixerTour(), new NormTour(), new ElementwiseTour(), new MiscTour());
    }

    private KernelTour() {
    }

    /** Runs every case of every suite whose kernel name contains {@code filter} (empty: all). */
    public static void run(PrintStream out, String filter, double secondsPerCase) {
        out.printf(Locale.ROOT, "%-26s %-34s %10s %10s %8s %10s %9s%n", "kernel", "shape", "ref ms", "cpu ms", "speedup", "GFLOP/s", "GB/s");
        try (Arena arena = Arena.ofShared()) {
            for (TourSuite suite : suites()) {
                for (TourCase c : suite.cases(arena)) {
                    if (!filter.isEmpty() && !c.kernel().contains(filter)) {
                        continue;
                    }
                    double refMs = time(c.ref(), 2, secondsPerCase / 3, 0) * c.refScale();
                    double cpuMs = time(c.cpu(), 31, secondsPerCase, 2 * secondsPerCase);
                    out.printf(Locale.ROOT, "%-26s %-34s %10s %10.3f %7.1fx %10s %9s%n", c.kernel(), c.shape(),
                            (c.refScale() > 1 ? "~" : "") + String.format(Locale.ROOT, "%.3f", refMs), cpuMs,
                            refMs / cpuMs, rate(c.flops(), cpuMs), rate(c.bytes(), cpuMs));
                    out.flush();
                }
            }
        }
    }

    private static String rate(double work, double ms) {
        return work <= 0 ? "-" : String.format(Locale.ROOT, "%.1f", work / (ms * 1e6));
    }

    /**
     * Median milliseconds per call over up to {@code reps} calls within about {@code budgetSeconds}, after a
     * warm-up of at least {@code warmSeconds} or {@value #WARM_CALLS} calls (C2 compiles a kernel only after
     * many calls; until then it runs interpreted, tens of times slower).
     */
    static double time(Runnable r, int reps, double budgetSeconds, double warmSeconds) {
        long warmEnd = System.nanoTime() + (long) (warmSeconds * 1e9);
        int calls = 0;
        do {
            r.run();
            calls++;
        } while (calls < WARM_CALLS && System.nanoTime() < warmEnd);
        List<Double> ms = new ArrayList<>();
        long end = System.nanoTime() + (long) (budgetSeconds * 1e9);
        do {
            long t0 = System.nanoTime();
            r.run();
            ms.add((System.nanoTime() - t0) / 1e6);
        } while (ms.size() < reps && System.nanoTime() < end);
        double[] a = ms.stream().mapToDouble(Double::doubleValue).toArray();
        Arrays.sort(a);
        return a[a.length / 2];
    }

    /** Warm-up calls before timing a fast kernel (bounded by time too). */
    static final int WARM_CALLS = 300;
}
