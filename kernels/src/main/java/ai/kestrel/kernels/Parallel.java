package ai.kestrel.kernels;

import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.ForkJoinTask;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The thread pool behind multi-threaded kernels.
 *
 * <p>{@link #range} splits {@code [0, n)} into chunks that the calling thread and the pool's workers take from
 * a shared counter, so uneven chunks balance themselves. The thread count starts at the system property
 * {@code kestrel.threads} (default: available processors) and is a runtime knob ({@link #setThreads}) for the
 * command line and benchmarks. With one thread, or one chunk, the body runs inline on the caller.
 */
public final class Parallel {
    /** The property that sets the initial thread count. */
    public static final String THREADS_PROPERTY = "kestrel.threads";

    /** A body run over a half-open index range. */
    @FunctionalInterface
    public interface RangeBody {
        void run(int lo, int hi);
    }

    private static volatile int threads = initialThreads();
    private static volatile ForkJoinPool pool;

    private Parallel() {
    }

    private static int initialThreads() {
        String p = System.getProperty(THREADS_PROPERTY);
        if (p == null || p.isBlank()) {
            return Runtime.getRuntime().availableProcessors();
        }
        try {
            int t = Integer.parseInt(p.trim());
            if (t >= 1) {
                return t;
            }
        } catch (NumberFormatException e) {
            // fall through to the error below
        }
        throw new IllegalArgumentException(THREADS_PROPERTY + " must be a positive integer, got '" + p + "'");
    }

    /** The number of threads kernels use (the caller included). */
    public static int threads() {
        return threads;
    }

    /** Sets the number of threads kernels use from now on (the caller included); at least 1. */
    public static synchronized void setThreads(int n) {
        if (n < 1) {
            throw new IllegalArgumentException("threads must be >= 1, got " + n);
        }
        if (n != threads) {
            ForkJoinPool old = pool;
            pool = null;
            threads = n;
            if (old != null) {
                old.shutdown();
            }
        }
    }

    private static ForkJoinPool pool() {
        ForkJoinPool p = pool;
        if (p == null) {
            synchronized (Parallel.class) {
                p = pool;
                if (p == null) {
                    p = new ForkJoinPool(Math.max(1, threads - 1), pool -> {
                        var t = ForkJoinPool.defaultForkJoinWorkerThreadFactory.newThread(pool);
                        t.setName("kestrel-kernel-" + t.getPoolIndex());
                        t.setDaemon(true);
                        return t;
                    }, null, false);
                    pool = p;
                }
            }
        }
        return p;
    }

    /**
     * Runs {@code body} over {@code [0, n)} in chunks of at least {@code grain} indices, on up to
     * {@link #threads()} threads. Returns when every chunk is done; an exception in any chunk is rethrown.
     */
    public static void range(int n, int grain, RangeBody body) {
        if (n <= 0) {
            return;
        }
        int t = threads;
        int g = Math.max(1, grain);
        int maxChunks = (n + g - 1) / g;
        if (t == 1 || maxChunks == 1 || ForkJoinTask.inForkJoinPool()) {
            body.run(0, n);
            return;
        }
        // Several chunks per thread so a slow (or descheduled) thread does not hold everyone up.
        int chunks = Math.min(maxChunks, t * 4);
        int chunk = (n + chunks - 1) / chunks;
        int nChunks = (n + chunk - 1) / chunk;
        AtomicInteger next = new AtomicInteger();
        Runnable worker = () -> {
            int c;
            while ((c = next.getAndIncrement()) < nChunks) {
                int lo = c * chunk;
                body.run(lo, Math.min(n, lo + chunk));
            }
        };
        int helpers = Math.min(t - 1, nChunks - 1);
        ForkJoinPool p = pool();
        ForkJoinTask<?>[] tasks = new ForkJoinTask<?>[helpers];
        for (int i = 0; i < helpers; i++) {
            tasks[i] = p.submit(worker);
        }
        Throwable failure = null;
        try {
            worker.run();
        } catch (Throwable e) {
            failure = e;
        }
        for (ForkJoinTask<?> task : tasks) {
            try {
                task.join();
            } catch (Throwable e) {
                if (failure == null) {
                    failure = e;
                }
            }
        }
        if (failure instanceof RuntimeException re) {
            throw re;
        }
        if (failure instanceof Error err) {
            throw err;
        }
        if (failure != null) {
            throw new IllegalStateException(failure);
        }
    }
}
