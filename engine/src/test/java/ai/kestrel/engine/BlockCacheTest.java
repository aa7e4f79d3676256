package ai.kestrel.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class BlockCacheTest {
    /** Every request maps to a class at least as large, at most 12.5% larger, 64-byte aligned and stable. */
    @Test
    void sizeClassesBoundTheWaste() {
        SplittableRandom rnd = new SplittableRandom(23);
        long prev = 0;
        for (long b = BlockCache.MIN; b < BlockCache.MIN * 64; b += 64 * (1 + rnd.nextInt(200))) {
            long c = BlockCache.sizeClass(b);
            assertTrue(c >= b && c <= b + b / 8, b + " bytes -> class " + c);
            assertEquals(0, c % 64, "class " + c + " of " + b);
            assertEquals(c, BlockCache.sizeClass(c), "a class is its own class: " + c);
            assertTrue(c >= prev, "classes grow with the request: " + b);
            prev = c;
        }
        for (int i = 0; i < 1000; i++) {
            long b = BlockCache.MIN + rnd.nextLong(1L << 40);
            long c = BlockCache.sizeClass(b);
            assertTrue(c >= b && c <= b + b / 8, b + " bytes -> class " + c);
        }
        assertThrows(IllegalArgumentException.class, () -> BlockCache.sizeClass(BlockCache.MIN - 1));
    }

    /** A fake C allocator: new addresses 1000, 2000, ...; records what is allocated, freed and still outstanding. */
    private static final class FakeHeap {
        final List<Long> freed = new ArrayList<>();
        final java.util.Map<Long, Long> outstanding = new java.util.HashMap<>();
        long next = 1000;
        int allocations;
        int failures; // the next this many allocations fail

        long allocate(long size) {
            if (failures > 0) {
                failures--;
                return 0;
            }
            allocations++;
            long a = next;
            next += 1000;
            outstanding.put(a, size);
            return a;
        }

        void release(long a) {
            assertTrue(outstanding.remove(a) != null, "freed twice or never allocated: " + a);
            freed.add(a);
        }

        long outstandingBytes() {
            return outstanding.values().stream().mapToLong(Long::longValue).sum();
        }

        BlockCache cache(long capacity) {
            return new BlockCache(capacity, this::allocate, this::release);
        }
    }

    @Test
    void blocksComeBackByClassAndTheLeastRecentClassesAreEvicted() {
        FakeHeap heap = new FakeHeap();
        long a = BlockCache.sizeClass(300_000), b = BlockCache.sizeClass(100_000), c = BlockCache.sizeClass(600_000);
        BlockCache cache = heap.cache(a + b + c);
        assertEquals(1000, cache.take(a), "empty at first: a new block");
        assertEquals(2000, cache.take(b));
        assertEquals(3000, cache.take(c));
        assertEquals(a + b + c, cache.liveBytes());
        cache.give(1000, a);
        cache.give(2000, b);
        cache.give(3000, c);
        assertEquals(a + b + c, cache.bytes());
        assertEquals(0, cache.liveBytes());
        assertEquals(2000, cache.take(b), "the cached block of that class");
        assertEquals(4000, cache.take(b), "one block of that class was cached: a new one");
        assertEquals(a + c, cache.bytes());
        cache.give(4000, b);
        cache.give(2000, b); // two b's: over the capacity (and the peak): the least recently used class, a, goes
        assertEquals(List.of(1000L), heap.freed);
        assertEquals(c + 2 * b, cache.bytes());
        assertEquals(2000, cache.take(b));
        cache.give(2000, b);
        // c is now the least recently used class
        long d = BlockCache.sizeClass(900_000); // larger than c: evicting c alone is not enough
        long at = cache.take(d);
        assertEquals(5000, at);
        assertEquals(c + 2 * b, cache.bytes(), "within the capacity: nothing evicted");
        cache.give(at, d); // over the capacity (and the peak): c, the least recently used class, goes, then b
        assertEquals(List.of(1000L, 3000L, 2000L, 4000L), heap.freed);
        assertEquals(d, cache.bytes());
        cache.clear();
        assertEquals(List.of(1000L, 3000L, 2000L, 4000L, 5000L), heap.freed);
        assertEquals(0, cache.bytes());
        assertEquals(0, heap.outstandingBytes());
    }

    /**
     * Blocks live at once may all be cached past the capacity; reset frees them and lowers the peak to what is live,
     * so that the capacity bounds the cache again until more is live at once.
     */
    @Test
    void theCacheHoldsUpToThePeakAndResetLowersIt() {
        FakeHeap heap = new FakeHeap();
        long a = BlockCache.sizeClass(BlockCache.MIN);
        BlockCache cache = heap.cache(2 * a);
        long[] blocks = {cache.take(a), cache.take(a), cache.take(a)};
        cache.reset(); // nothing cached; the peak is the three live blocks
        cache.give(blocks[0], a);
        cache.give(blocks[1], a);
        cache.give(blocks[2], a);
        assertEquals(List.of(), heap.freed, "three blocks were live at once: all three are kept");
        cache.reset();
        assertEquals(List.of(blocks[2], blocks[1], blocks[0]), heap.freed);
        long[] again = {cache.take(a), cache.take(a), cache.take(a)};
        cache.reset(); // the peak is three blocks again
        cache.give(again[0], a);
        cache.give(again[1], a);
        cache.reset(); // only one live block now: the allowance falls back to the capacity (two)
        heap.freed.clear();
        cache.give(again[2], a);
        assertEquals(a, cache.bytes());
        long[] more = {cache.take(a), cache.take(a), cache.take(a)};
        assertEquals(again[2], more[0], "the cached block first");
        for (long m : more) {
            cache.give(m, a);
        }
        assertEquals(3 * a, cache.bytes(), "within the new peak of three");
        cache.reset();
        assertEquals(0, heap.outstandingBytes());
    }

    /**
     * The point of the peak rule: a step whose blocks together exceed the capacity (a LoRA step with kept products)
     * allocates them once; every later step with the same shapes takes all of them from the cache and frees nothing.
     * With the capacity alone (the earlier rule) the second step allocated all but the capacity's worth again.
     */
    @Test
    void aStepLargerThanTheCapacityIsServedFromTheCacheAfterTheFirst() {
        FakeHeap heap = new FakeHeap();
        SplittableRandom rnd = new SplittableRandom(7);
        long[] sizes = new long[40];
        long total = 0;
        for (int i = 0; i < sizes.length; i++) {
            sizes[i] = BlockCache.sizeClass(BlockCache.MIN + rnd.nextLong(8L << 20));
            total += sizes[i];
        }
        BlockCache cache = heap.cache(total / 10);
        for (int step = 0; step < 5; step++) {
            int allocationsBefore = heap.allocations;
            long[] blocks = new long[sizes.length];
            for (int i = 0; i < sizes.length; i++) {
                blocks[i] = cache.take(sizes[i]);
                assertTrue(cache.liveBytes() + cache.bytes() <= total, "step " + step + ": never more than the peak");
            }
            for (int i = blocks.length - 1; i >= 0; i--) {
                cache.give(blocks[i], sizes[i]);
            }
            assertEquals(step == 0 ? sizes.length : 0, heap.allocations - allocationsBefore, "new blocks in step " + step);
            assertEquals(List.of(), heap.freed, "nothing freed after step " + step);
            assertEquals(total, cache.bytes());
            assertEquals(total, cache.peakBytes());
        }
        cache.reset();
        assertEquals(sizes.length, heap.freed.size());
        assertEquals(0, heap.outstandingBytes());
    }

    /**
     * Random takes and gives of random classes under random capacities: the fake heap's outstanding bytes are live +
     * cached, the cache stays within max(capacity, peak - live), the peak is the most ever live, and no block is handed
     * out twice.
     */
    @Test
    void randomUseKeepsTheBounds() {
        SplittableRandom rnd = new SplittableRandom(11);
        for (int round = 0; round < 20; round++) {
            FakeHeap heap = new FakeHeap();
            long capacity = round % 5 == 0 ? 0 : rnd.nextLong(4L << 20);
            BlockCache cache = heap.cache(capacity);
            long[] classes = new long[1 + rnd.nextInt(6)];
            for (int i = 0; i < classes.length; i++) {
                classes[i] = BlockCache.sizeClass(BlockCache.MIN + rnd.nextLong(2L << 20));
            }
            java.util.Map<Long, Long> inUse = new java.util.HashMap<>();
            long peak = 0;
            for (int op = 0; op < 2000; op++) {
                String what = "round " + round + " (capacity " + capacity + "), operation " + op;
                int kind = rnd.nextInt(10);
                if (kind < 5 || inUse.isEmpty()) {
                    long cls = classes[rnd.nextInt(classes.length)];
                    long a = cache.take(cls);
                    assertTrue(inUse.put(a, cls) == null, what + ": block " + a + " handed out twice");
                } else if (kind < 9) {
                    long a = inUse.keySet().iterator().next();
                    cache.give(a, inUse.remove(a));
                } else if (rnd.nextInt(20) == 0) {
                    cache.reset();
                    peak = cache.liveBytes();
                }
                long live = inUse.values().stream().mapToLong(Long::longValue).sum();
                peak = Math.max(peak, live);
                assertEquals(live, cache.liveBytes(), what);
                assertEquals(peak, cache.peakBytes(), what);
                assertEquals(live + cache.bytes(), heap.outstandingBytes(), what + ": every block is live or cached");
                long allowance = capacity == 0 ? 0 : Math.max(capacity, peak - live);
                assertTrue(cache.bytes() <= allowance, what + ": cached " + cache.bytes() + " > " + allowance);
            }
        }
    }

    /** A failed allocation frees the cached blocks and tries once more; failing again it returns 0, counting nothing. */
    @Test
    void aFailedAllocationFreesTheCacheAndRetries() {
        FakeHeap heap = new FakeHeap();
        long a = BlockCache.sizeClass(BlockCache.MIN), b = BlockCache.sizeClass(3 * BlockCache.MIN);
        BlockCache cache = heap.cache(16 * b);
        cache.give(cache.take(a), a);
        assertEquals(a, cache.bytes());
        heap.failures = 1;
        long got = cache.take(b);
        assertEquals(List.of(1000L), heap.freed, "the cached block was freed before the retry");
        assertEquals(0, cache.bytes());
        assertEquals(b, cache.liveBytes());
        cache.give(got, b);
        heap.failures = 2;
        assertEquals(0, cache.take(a), "no memory at all");
        assertEquals(0, cache.liveBytes());
        assertEquals(0, heap.outstandingBytes());
    }

    /**
     * Through scopes: a large tensor's block goes back to the cache when its scope closes, and the next scope's tensor
     * of about the same size gets the same block, poisoned again (uninitialised) or zeroed (zeros) over what the
     * previous tensor wrote; accounted as live while in use and as cached once its scope closed.
     */
    @Test
    void scopesReuseCachedBlocks() {
        long n = 300_000;
        long address;
        long cachedBefore;
        try (Scope s = Scope.open()) {
            Tensor t = Tensor.empty(DType.F32, n);
            address = t.segment().address();
            t.segment().fill((byte) 0x3f);
            cachedBefore = Scope.cachedBytes();
        }
        long cls = BlockCache.sizeClass(n * 4);
        assertEquals(cachedBefore + cls, Scope.cachedBytes(), "the block is cached once its scope closed");
        try (Scope s = Scope.open()) {
            Tensor t = Tensor.empty(DType.F32, n - 1000); // the same class
            assertEquals(address, t.segment().address(), "the cached block is reused");
            assertEquals(cachedBefore, Scope.cachedBytes());
            for (float v : t.toFloatArray()) {
                assertTrue(Float.isNaN(v), "poisoned, not the previous tensor's contents");
            }
            t.segment().fill((byte) 0x3f);
        }
        try (Scope s = Scope.open()) {
            Tensor z = Tensor.zeros(DType.F32, n);
            assertEquals(address, z.segment().address(), "the cached block is reused");
            float[] v = z.toFloatArray();
            for (int i = 0; i < v.length; i++) {
                assertEquals(0f, v[i], "element " + i + " of a zeroed tensor in a reused block");
            }
        }
        Scope.releaseCached();
        assertEquals(0, Scope.cachedBytes());
    }
}
