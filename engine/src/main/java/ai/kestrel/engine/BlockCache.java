package ai.kestrel.engine;

import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.Map;
import java.util.function.LongConsumer;

/**
 * Blocks of C-allocated memory of at least {@link #MIN} bytes that closed scopes gave back, kept by size class and
 * handed out again instead of being freed, as a caching GPU allocator keeps device memory.
 *
 * <p>Why: the C allocator returns large blocks to the kernel when they are freed (they are mapped, or trimmed off the
 * top of its heap), so the next step's tensors of the same sizes fault in fresh pages that the kernel zeroes first.
 * In a LoRA step of a 0.5B model (2 x 512 tokens) that zeroing ({@code clear_page_erms}) was ~6% of the samples, on
 * top of the fills that then zero the same pages again. A training or generation loop makes the same shapes every
 * step, so the blocks freed by one step's scope are what the next step asks for.
 *
 * <p>Sizes are rounded up to one of eight classes per power of two (at most 12.5% over the request), so requests that
 * differ a little (a batch a few tokens longer) still find a block. The cache holds at most {@code capacity} bytes:
 * giving back a block that would exceed it evicts (frees) the classes used least recently, and a block larger than
 * the whole capacity is freed at once. Thread-safe; every method takes the lock (a few hundred calls per step).
 */
final class BlockCache {
    /** Requests below this are not cached (the C allocator reuses small blocks well by itself). */
    static final long MIN = 64 << 10;

    private final long capacity;
    private final LongConsumer release;
    private final Map<Long, ArrayDeque<Long>> free = new HashMap<>();
    private final Map<Long, Long> lastUse = new HashMap<>();
    private long cached;
    private long tick;

    /** A cache of at most {@code capacity} bytes; {@code release} frees a block's address for good. */
    BlockCache(long capacity, LongConsumer release) {
        this.capacity = capacity;
        this.release = release;
    }

    /** The size a request of {@code bytes} (at least {@link #MIN}) is allocated with: eight classes per power of two. */
    static long sizeClass(long bytes) {
        if (bytes < MIN) {
            throw new IllegalArgumentException(bytes + " bytes is below the cached sizes (" + MIN + ")");
        }
        long unit = Long.highestOneBit(bytes) >>> 3;
        return (bytes + unit - 1) & -unit;
    }

    /** A cached block of size class {@code cls}, removed from the cache, or 0 when none is cached. */
    synchronized long take(long cls) {
        ArrayDeque<Long> q = free.get(cls);
        if (q == null || q.isEmpty()) {
            return 0;
        }
        lastUse.put(cls, ++tick);
        cached -= cls;
        return q.pop();
    }

    /**
     * Gives back the block at {@code address} of size class {@code cls}: cached, after evicting the least recently
     * used classes if the cache would exceed its capacity, or freed when it is larger than the whole capacity.
     */
    synchronized void give(long address, long cls) {
        if (cls > capacity) {
            release.accept(address);
            return;
        }
        while (cached + cls > capacity) {
            evictLeastRecent(cls);
        }
        free.computeIfAbsent(cls, c -> new ArrayDeque<>()).push(address);
        lastUse.put(cls, ++tick);
        cached += cls;
    }

    /** Frees every block of the least recently used class other than {@code keep} (or of {@code keep} if it is the only one). */
    private void evictLeastRecent(long keep) {
        long victim = -1;
        long oldest = Long.MAX_VALUE;
        for (Map.Entry<Long, ArrayDeque<Long>> e : free.entrySet()) {
            long c = e.getKey();
            if (!e.getValue().isEmpty() && c != keep && lastUse.get(c) < oldest) {
                oldest = lastUse.get(c);
                victim = c;
            }
        }
        if (victim < 0) {
            victim = keep; // only blocks of the class being given back are cached: free one of them
            release.accept(free.get(victim).pollLast());
            cached -= victim;
            return;
        }
        ArrayDeque<Long> q = free.remove(victim);
        lastUse.remove(victim);
        for (long a : q) {
            release.accept(a);
        }
        cached -= victim * q.size();
    }

    /** Frees every cached block. */
    synchronized void clear() {
        for (Map.Entry<Long, ArrayDeque<Long>> e : free.entrySet()) {
            for (long a : e.getValue()) {
                release.accept(a);
            }
        }
        free.clear();
        lastUse.clear();
        cached = 0;
    }

    /** Bytes held in cached blocks. */
    synchronized long bytes() {
        return cached;
    }
}
