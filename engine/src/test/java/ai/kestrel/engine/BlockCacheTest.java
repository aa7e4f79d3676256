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

    @Test
    void blocksComeBackByClassAndTheLeastRecentClassesAreEvicted() {
        List<Long> freed = new ArrayList<>();
        long a = BlockCache.sizeClass(100_000), b = BlockCache.sizeClass(300_000), c = BlockCache.sizeClass(600_000);
        BlockCache cache = new BlockCache(a + b + c, freed::add);
        assertEquals(0, cache.take(a), "empty at first");
        cache.give(1000, a);
        cache.give(2000, b);
        cache.give(3000, c);
        assertEquals(a + b + c, cache.bytes());
        assertEquals(2000, cache.take(b));
        assertEquals(0, cache.take(b), "one block of that class was cached");
        assertEquals(a + c, cache.bytes());
        cache.give(2000, b);
        // touch a: c is now the least recently used class
        assertEquals(1000, cache.take(a));
        cache.give(1000, a);
        long d = BlockCache.sizeClass(700_000); // larger than c: evicting c alone is not enough
        cache.give(4000, d); // over capacity: c goes, then (still over) b
        assertEquals(List.of(3000L, 2000L), freed);
        assertEquals(a + d, cache.bytes());
        assertEquals(4000, cache.take(d));
        assertEquals(1000, cache.take(a));
        // a block larger than the whole cache is freed at once
        cache.give(5000, BlockCache.sizeClass(10_000_000));
        assertEquals(5000L, freed.get(2));
        assertEquals(0, cache.bytes());
        cache.give(6000, a);
        cache.give(7000, a);
        cache.clear();
        assertEquals(List.of(3000L, 2000L, 5000L, 7000L, 6000L), freed);
        assertEquals(0, cache.bytes());
        assertEquals(0, cache.take(a));
    }

    /** With only one class cached, giving back more of it than fits frees that class's oldest blocks. */
    @Test
    void oneClassOverCapacityFreesItsOwnBlocks() {
        List<Long> freed = new ArrayList<>();
        long a = BlockCache.sizeClass(BlockCache.MIN);
        BlockCache cache = new BlockCache(2 * a, freed::add);
        cache.give(1, a);
        cache.give(2, a);
        cache.give(3, a);
        assertEquals(List.of(1L), freed);
        assertEquals(2 * a, cache.bytes());
        assertEquals(3, cache.take(a));
        assertEquals(2, cache.take(a));
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
