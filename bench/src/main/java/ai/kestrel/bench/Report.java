package ai.kestrel.bench;

import java.lang.reflect.Method;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Locale;
import java.util.function.Function;
import org.openjdk.jmh.results.BenchmarkResult;
import org.openjdk.jmh.results.IterationResult;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.options.CommandLineOptions;
import org.openjdk.jmh.runner.options.Options;
import org.openjdk.jmh.runner.options.OptionsBuilder;

/**
 * Runs JMH benchmarks (same arguments as JMH's own main: a regex and options) and prints a Markdown table:
 * the median of the measurement iterations and, from each benchmark class's static {@code work(method,
 * param)}, the rate in GFLOP/s and GB/s. With several JMH threads the rates are summed over threads.
 */
public final class Report {
    private Report() {
    }

    public static void main(String[] args) throws Exception {
        Options opts = new OptionsBuilder().parent(new CommandLineOptions(args)).build();
        Collection<RunResult> results = new Runner(opts).run();
        System.out.println();
        System.out.println("| benchmark | parameters | JMH threads | median µs/op | GFLOP/s | GB/s |");
        System.out.println("|---|---|---|---|---|---|");
        for (RunResult r : results) {
            var params = r.getParams();
            String name = params.getBenchmark();
            int dot = name.lastIndexOf('.');
            String cls = name.substring(0, dot);
            String method = name.substring(dot + 1);
            List<String> ps = new ArrayList<>();
            for (String k : params.getParamsKeys()) {
                ps.add(k + "=" + params.getParam(k));
            }
            List<Double> scores = new ArrayList<>();
            for (BenchmarkResult br : r.getBenchmarkResults()) {
                for (IterationResult ir : br.getIterationResults()) {
                    scores.add(ir.getPrimaryResult().getScore());
                }
            }
            scores.sort(Double::compare);
            double us = scores.isEmpty() ? Double.NaN : scores.get(scores.size() / 2);
            double[] work = work(cls, method, params::getParam);
            int threads = params.getThreads();
            System.out.printf(Locale.ROOT, "| %s.%s | %s | %d | %.1f | %s | %s |%n", cls.substring(cls.lastIndexOf('.') + 1), method,
                    String.join(" ", ps), threads, us, rate(work[0] * threads, us), rate(work[1] * threads, us));
        }
    }

    private static String rate(double units, double us) {
        return units <= 0 ? "-" : String.format(Locale.ROOT, "%.1f", units / (us * 1e3));
    }

    private static double[] work(String cls, String method, Function<String, String> param) {
        try {
            Method m = Class.forName(cls).getDeclaredMethod("work", String.class, Function.class);
            m.setAccessible(true);
            return (double[]) m.invoke(null, method, param);
        } catch (ReflectiveOperationException e) {
            return new double[] {0, 0};
        }
    }
}
