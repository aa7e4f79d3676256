package ai.kestrel.engine;

import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.Map;
import java.util.function.LongConsumer;
import java.util.function.LongUnaryOperator;

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
 * differ a little (a batch a few tokens longer) still find a block.
 *
 * <p>How much it keeps: the cache also counts the large blocks in use ({@link #liveBytes()}) and the most that were
 * ever in use at once ({@link #peakBytes()}), and holds at most the larger of {@code capacity} and peak minus live.
 * So live plus cached never exceeds {@code max(peak, live + capacity)}: beyond its fixed capacity the cache only keeps
 * memory the process has already needed at once, and a step whose tensors outgrow the capacity (a LoRA step with its
 * products kept: ~5 GB at 0.5B x 1,024 tokens) still finds all of them in the next step. Going past the allowance
 * evicts (frees) the classes used least recently, when a block is given back or a new one allocated. A capacity of 0
 * turns caching off. Thread-safe; every method takes the
 * lock (a few hundred calls per step).
 */
final class BlockCache {
    /** Requests below this are not cached (the C allocator reuses small blocks well by itself). */
    static final long MIN = 64 << 10;

    private final long capacity;
    private final LongUnaryOperator allocate;
    private final LongConsumer release;
    private final Map<Long, ArrayDeque<Long>> free = new HashMap<>();
    private final Map<Long, Long> lastUse = new HashMap<>();
    private long cached;
    private long live;
    private long peak;
    private long tick;

    /**
     * A cache holding at least up to {@code capacity} bytes (0: none); {@code allocate} returns a new block of the
     * given size or 0 when there is no memory, {@code release} frees a block's address for good.
     */
    BlockCache(long capacity, LongUnaryOperator allocate, LongConsumer release) {
        this.capacity = capacity;
        this.allocate = allocate;
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

    /**
     * A block of size class {@code cls}, counted as live until {@link #give given back}: a cached one when there is
     * one, else a new one (after evicting what the allowance no longer covers; when the allocation fails, every cached
     * block is freed and it is tried once more). 0 when no memory could be had.
     */
    synchronized long take(long cls) {
        ArrayDeque<Long> q = free.get(cls);
        if (q != null && !q.isEmpty()) {
            lastUse.put(cls, ++tick);
            cached -= cls;
            live += cls;
            peak = Math.max(peak, live);
            return q.pop();
        }
        live += cls;
        trim(-1);
        long a = allocate.applyAsLong(cls);
        if (a == 0) {
            clear(); // blocks held for reuse may be what is missing
            a = allocate.applyAsLong(cls);
            if (a == 0) {
                live -= cls;
                return 0;
            }
        }
        peak = Math.max(peak, live);
        return a;
    }

    /**
     * Gives back the block at {@code address} of size class {@code cls}, taken with {@link #take}: cached, then the
     * least recently used classes evicted while the cache exceeds its allowance (freed at once with capacity 0).
     */
    synchronized void give(long address, long cls) {
        live -= cls;
        if (capacity == 0) {
            release.accept(address);
            return;
        }
        free.computeIfAbsent(cls, c -> new ArrayDeque<>()).push(address);
        lastUse.put(cls, ++tick);
        cached += cls;
        trim(cls);
    }

    /** What the cache may hold now: the larger of its capacity and the peak of live bytes minus the live ones. */
    private long allowance() {
        return capacity == 0 ? 0 : Math.max(capacity, peak - live);
    }

    /** Evicts least recently used classes (other than {@code keep} while there are others) until within the allowance. */
    private void trim(long keep) {
        while (cached > allowance()) {
            evictLeastRecent(keep);
        }
    }

    /** Frees every block of the least recently used class other than {@code keep} (or one of {@code keep} if it is the only one). */
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
            victim = keep; // only blocks of the class being given back are cached: free the oldest of them
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

    /**
     * Frees every cached block and lowers the peak to what is live now, so that what a finished phase needed at once
     * no longer lets the cache grow past its capacity.
     */
    synchronized void reset() {
        clear();
        peak = live;
    }

    /** Bytes held in cached blocks. */
    synchronized long bytes() {
        return cached;
    }

    /** Bytes in blocks taken and not given back. */
    synchronized long liveBytes() {
        return live;
    }

    /** The most bytes that were live at once (since the last {@link #reset}). */
    synchronized long peakBytes() {
        return peak;
    }
}
