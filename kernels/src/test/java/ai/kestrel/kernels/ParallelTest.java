package ai.kestrel.kernels;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicIntegerArray;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class ParallelTest {
    private int before;

    @BeforeEach
    void remember() {
        before = Parallel.threads();
    }

    @AfterEach
    void restore() {
        Parallel.setThreads(before);
    }

    /** Runs a range over [0, n) and checks that every index was visited exactly once. */
    private static void coversOnce(int n, int grain) {
        AtomicIntegerArray seen = new AtomicIntegerArray(n);
        Parallel.range(n, grain, (lo, hi) -> {
            for (int i = lo; i < hi; i++) {
                seen.incrementAndGet(i);
            }
        });
        for (int i = 0; i < n; i++) {
            assertEquals(1, seen.get(i), "n=" + n + " grain=" + grain + " index " + i);
        }
    }

    @Test
    void everyIndexOnceForAnyThreadCount() {
        for (int t : new int[] {1, 2, 3, 5}) {
            Parallel.setThreads(t);
            for (int n : new int[] {1, 2, 7, 33, 1000, 4097}) {
                for (int grain : new int[] {1, 3, 64, 5000}) {
                    coversOnce(n, grain);
                }
            }
        }
    }

    /**
     * Guided self-scheduling: chunks shrink from a quarter of the range (two threads) to the grain, so the threads
     * finish within one grain of each other, and the bounds are the same in every run whoever claims them.
     */
    @Test
    void chunksShrinkToTheGrainAndDoNotDependOnTiming() {
        Parallel.setThreads(2);
        for (int n : new int[] {100, 4097, 100_000}) {
            for (int grain : new int[] {1, 7, 64}) {
                List<String> first = null;
                for (int rep = 0; rep < 20; rep++) {
                    java.util.concurrent.ConcurrentLinkedQueue<int[]> q = new java.util.concurrent.ConcurrentLinkedQueue<>();
                    Parallel.range(n, grain, (lo, hi) -> q.add(new int[] {lo, hi}));
                    List<int[]> chunks = new ArrayList<>(q);
                    chunks.sort(java.util.Comparator.comparingInt(c -> c[0]));
                    String where = "n=" + n + " grain=" + grain + " rep " + rep;
                    int at = 0;
                    int previous = Integer.MAX_VALUE;
                    List<String> bounds = new ArrayList<>();
                    for (int i = 0; i < chunks.size(); i++) {
                        int[] c = chunks.get(i);
                        int size = c[1] - c[0];
                        assertEquals(at, c[0], where + ": chunks must tile the range");
                        org.junit.jupiter.api.Assertions.assertTrue(size <= previous, where + ": chunk " + i + " grew to " + size);
                        org.junit.jupiter.api.Assertions.assertTrue(size <= Math.max(grain, n / 4), where + ": chunk " + i + " has " + size);
                        org.junit.jupiter.api.Assertions.assertTrue(size >= grain || i == chunks.size() - 1, where + ": chunk " + i + " below the grain");
                        previous = size;
                        at = c[1];
                        bounds.add(c[0] + ".." + c[1]);
                    }
                    assertEquals(n, at, where);
                    org.junit.jupiter.api.Assertions.assertTrue(previous <= grain, where + ": the last chunk has " + previous);
                    if (first == null) {
                        first = bounds;
                    } else {
                        assertEquals(first, bounds, where + ": bounds changed between runs");
                    }
                }
            }
        }
    }

    @Test
    void manySmallJobsBackToBackAndAfterPauses() {
        Parallel.setThreads(3);
        assertTimeoutPreemptively(Duration.ofSeconds(60), () -> {
            for (int j = 0; j < 20_000; j++) {
                coversOnce(5, 1);
                if (j % 2000 == 0) {
                    Thread.sleep(5); // long enough for the workers to stop spinning and park
                }
            }
        });
    }

    @Test
    void exceptionsReachTheCallerAndThePoolKeepsWorking() {
        Parallel.setThreads(2);
        IllegalStateException boom = new IllegalStateException("chunk failed");
        IllegalStateException thrown = assertThrows(IllegalStateException.class, () -> Parallel.range(64, 1, (lo, hi) -> {
            if (lo <= 40 && 40 < hi) {
                throw boom;
            }
        }));
        assertSame(boom, thrown);
        assertThrows(AssertionError.class, () -> Parallel.range(64, 1, (lo, hi) -> {
            throw new AssertionError("error in a chunk");
        }));
        coversOnce(1000, 1);
    }

    @Test
    void nestedCallsRunInline() {
        Parallel.setThreads(2);
        int n = 16;
        int m = 100;
        AtomicIntegerArray seen = new AtomicIntegerArray(n * m);
        Parallel.range(n, 1, (lo, hi) -> {
            for (int i = lo; i < hi; i++) {
                int row = i;
                Parallel.range(m, 1, (a, b) -> {
                    for (int j = a; j < b; j++) {
                        seen.incrementAndGet(row * m + j);
                    }
                });
            }
        });
        for (int i = 0; i < n * m; i++) {
            assertEquals(1, seen.get(i), "index " + i);
        }
    }

    @Test
    void concurrentCallersFromSeveralThreads() throws Exception {
        Parallel.setThreads(2);
        List<Thread> callers = new ArrayList<>();
        List<Throwable> failures = java.util.Collections.synchronizedList(new ArrayList<>());
        for (int c = 0; c < 4; c++) {
            Thread t = new Thread(() -> {
                try {
                    for (int j = 0; j < 300; j++) {
                        coversOnce(257, 4);
                    }
                } catch (Throwable e) {
                    failures.add(e);
                }
            });
            callers.add(t);
            t.start();
        }
        for (Thread t : callers) {
            t.join(60_000);
            assertEquals(false, t.isAlive(), "a caller is stuck");
        }
        assertEquals(List.of(), failures);
    }
}
