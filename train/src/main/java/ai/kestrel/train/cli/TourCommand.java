package ai.kestrel.train.cli;

import ai.kestrel.kernels.Parallel;
import ai.kestrel.kernels.Vec;
import ai.kestrel.train.tour.KernelTour;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code ./kestrel tour}: every kernel's speed against its reference, as a table. */
@Command(name = "tour", mixinStandardHelpOptions = true,
        description = "Time each CPU kernel against its plain reference at Falcon-H1-1.5B-Deep shapes and print a table.")
final class TourCommand implements Runnable {
    @Option(names = "--filter", description = "Only kernels whose name contains this text.", defaultValue = "")
    String filter;

    @Option(names = "--threads", description = "Kernel threads (default: all cores).", defaultValue = "0")
    int threads;

    @Option(names = "--seconds", description = "Time budget per kernel, in seconds (default ${DEFAULT-VALUE}).", defaultValue = "0.5")
    double seconds;

    @Override
    public void run() {
        if (threads > 0) {
            Parallel.setThreads(threads);
        }
        System.out.printf("Kestrel kernel tour: %d thread(s), %d-bit vectors (%d float lanes)%n",
                Parallel.threads(), Vec.F.vectorBitSize(), Vec.LANES);
        KernelTour.run(System.out, filter, seconds);
    }
}
