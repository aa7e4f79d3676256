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
