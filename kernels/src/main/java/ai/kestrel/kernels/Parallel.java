package ai.kestrel.kernels;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The thread pool behind multi-threaded kernels.
 *
 * <p>{@link #range} splits {@code [0, n)} into chunks that the calling thread and the pool's workers claim from
 * a shared counter (guided self-scheduling): each claim takes a quarter-thread's share of what is left
 * ({@code left / (2 * threads)}), at least the caller's grain, so the first chunks are long and the last ones
 * short. Threads then finish within about one grain of each other; with eight equal chunks the caller waited on
 * average for half of one (a bf16 1.5B-Deep decode step makes ~280 parallel calls; guided chunks cut the
 * caller's waiting by 16-22% and decoded 1.06x faster in alternating segments of one process). Chunk bounds
 * depend only on {@code n}, the grain and the thread count, never on timing.
 *
 * <p>The thread count starts at the system property {@code kestrel.threads} (default: available processors)
 * and is a runtime knob ({@link #setThreads}) for the command line and benchmarks. With one thread, or one
 * chunk, the body runs inline on the caller.
 *
 * <p>Workers spin for a while ({@code kestrel.spinMicros}, default 1000 µs) after each job before they park,
 * and the caller spins while it waits for them: a decode step is hundreds of parallel calls a few hundred
 * microseconds apart, and waking a parked thread on this VM took about 100 µs per call (a parallel call after
 * a 0.5 ms pause: 116 µs for 19 µs of work with a fork-join pool).
 *
 * <p>The caller waits at the end only for workers that joined the job: once every chunk is claimed it closes
 * the job, and a worker that had not seen it yet (descheduled, or waking) skips it. Q8_0 decode products
 * (100 matrices of 1280 x 3072 cycled, 2 threads) ran 1.014x and 1.033x faster for it, in 10 of 12 alternating
 * rounds each time.
 *
 * <p>A call made from inside a running body, or from a second thread while the pool is busy, runs inline on
 * its caller.
 */
public final class Parallel {
    /** The property that sets the initial thread count. */
    public static final String THREADS_PROPERTY = "kestrel.threads";

    /** How long an idle worker spins for the next job before it parks. */
    private static final long SPIN_NANOS = Math.max(0, Long.getLong("kestrel.spinMicros", 1000)) * 1000;

    /** A body run over a half-open index range. */
    @FunctionalInterface
    public interface RangeBody {
        void run(int lo, int hi);
    }

    private static volatile int threads = initialThreads();
    private static volatile Pool pool;

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
            Pool old = pool;
            pool = null;
            threads = n;
            if (old != null) {
                old.shutdown();
            }
        }
    }

    private static Pool pool() {
        Pool p = pool;
        if (p == null) {
            synchronized (Parallel.class) {
                p = pool;
                if (p == null) {
                    p = new Pool(Math.max(1, threads - 1));
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
        if (t == 1 || maxChunks == 1 || Thread.currentThread() instanceof Worker) {
            body.run(0, n);
            return;
        }
        Pool p = pool();
        if (p.lock.isHeldByCurrentThread() || !p.lock.tryLock()) {
            body.run(0, n); // nested in our own job, or another thread's job holds the pool
            return;
        }
        try {
            p.run(new Job(body, n, g, 2 * t, Math.min(p.workers.length, maxChunks - 1)));
        } finally {
            p.lock.unlock();
        }
    }

    /** One call of {@link #range}: chunks claimed from a counter by the caller and {@code helpers} workers. */
    private static final class Job {
        final RangeBody body;
        final int n;
        final int grain;
        final int divisor;
        final int helpers;
        final AtomicInteger next = new AtomicInteger();
        /** Helpers inside {@link #work} ({@link #join}ed, not yet {@link #leave}n), plus {@link #CLOSED} once set. */
        final AtomicInteger state = new AtomicInteger();
        final AtomicReference<Throwable> failure = new AtomicReference<>();

        /** Set in {@link #state} by the caller when every chunk is claimed: helpers that come later stay out. */
        static final int CLOSED = 1 << 30;

        Job(RangeBody body, int n, int grain, int divisor, int helpers) {
            this.body = body;
            this.n = n;
            this.grain = grain;
            this.divisor = divisor;
            this.helpers = helpers;
        }

        /** A helper's entry: false once the caller has closed the job (nothing left to claim). */
        boolean join() {
            while (true) {
                int s = state.get();
                if ((s & CLOSED) != 0) {
                    return false;
                }
                if (state.compareAndSet(s, s + 1)) {
                    return true;
                }
            }
        }

        void leave() {
            state.decrementAndGet();
        }

        /**
         * The caller's close, after its own {@link #work} found nothing left to claim; then it waits only for the
         * helpers that joined (a helper that had not seen the job yet, descheduled or waking up, is not waited
         * for: it finds the job closed and skips it).
         */
        void close() {
            state.getAndAdd(CLOSED);
        }

        boolean helpersInside() {
            return (state.get() & ~CLOSED) != 0;
        }

        /** The end of the chunk that starts at {@code lo}: a share of what is left, at least the grain. */
        int end(int lo) {
            int left = n - lo;
            return lo + Math.min(left, Math.max(grain, left / divisor));
        }

        void work() {
            while (true) {
                int lo = next.get();
                if (lo >= n) {
                    return;
                }
                int hi = end(lo);
                if (!next.compareAndSet(lo, hi)) {
                    continue; // another thread claimed this chunk
                }
                if (failure.get() != null) {
                    continue; // drain the counter without running more chunks
                }
                try {
                    body.run(lo, hi);
                } catch (Throwable e) {
                    failure.compareAndSet(null, e);
                }
            }
        }
    }

    private static final class Worker extends Thread {
        final Pool pool;
        final int index;
        volatile boolean parked;

        Worker(Pool pool, int index) {
            super("kestrel-kernel-" + index);
            this.pool = pool;
            this.index = index;
            setDaemon(true);
        }

        @Override
        public void run() {
            Job last = null;
            while (true) {
                Job j = pool.job;
                if (j != last) {
                    // a published job is always served, even by a pool that is shutting down
                    last = j;
                    if (index < j.helpers && j.join()) {
                        j.work();
                        j.leave();
                    }
                    continue;
                }
                if (pool.shutdown) {
                    return;
                }
                // the clock is read once every 64 spins: read on every one (a vDSO call, 3.3% of a q8_0 decode
                // step's samples on the Zen 3 VM), decode ran 1.010-1.020x slower in three runs alternating every
                // 4 steps in one JVM (2026-12-01). A new job is still seen on the next spin.
                long start = System.nanoTime();
                int spins = 0;
                while (pool.job == last && !pool.shutdown && ((++spins & 63) != 0 || System.nanoTime() - start < SPIN_NANOS)) {
                    Thread.onSpinWait();
                }
                if (pool.job == last && !pool.shutdown) {
                    parked = true;
                    // the caller publishes the job before it reads `parked`; re-checking after setting it
                    // means one of us sees the other's write, so no wake-up is lost
                    if (pool.job == last && !pool.shutdown) {
                        LockSupport.park(this);
                    }
                    parked = false;
                }
            }
        }
    }

    private static final class Pool {
        final ReentrantLock lock = new ReentrantLock();
        final Worker[] workers;
        volatile Job job = new Job((lo, hi) -> { }, 0, 1, 1, 0);
        volatile boolean shutdown;

        Pool(int size) {
            workers = new Worker[size];
            for (int i = 0; i < size; i++) {
                workers[i] = new Worker(this, i);
                workers[i].start();
            }
        }

        void run(Job j) {
            job = j;
            for (int i = 0; i < j.helpers; i++) {
                if (workers[i].parked) {
                    LockSupport.unpark(workers[i]);
                }
            }
            j.work();
            j.close();
            long spins = 0;
            while (j.helpersInside()) {
                // helpers still on their last chunk: spin, then back off if one was descheduled
                if (++spins < 100_000) {
                    Thread.onSpinWait();
                } else {
                    Thread.yield();
                }
            }
            Throwable failure = j.failure.get();
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

        void shutdown() {
            shutdown = true;
            for (Worker w : workers) {
                LockSupport.unpark(w);
            }
        }
    }
}
