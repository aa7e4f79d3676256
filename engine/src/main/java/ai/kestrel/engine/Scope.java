package ai.kestrel.engine;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.ArrayDeque;
import java.util.concurrent.atomic.AtomicLong;

/**
 * An owner of off-heap memory that frees everything allocated in it when closed, so a loop's memory stays
 * flat without the garbage collector.
 *
 * <pre>{@code
 * try (Scope step = Scope.open()) {       // tensors made inside belong to `step`
 *     Tensor loss = model.loss(batch);
 *     Autograd.backward(loss);
 * }                                        // ...and are freed here
 * }</pre>
 *
 * <p>{@link #open()} pushes the new scope on this thread's stack: tensor factories allocate in the innermost
 * open scope ({@link #current()}); scopes must be closed in reverse order of opening. Long-lived memory
 * (weights, parameters, optimizer state) goes in a {@link #detached()} scope that is never current unless
 * {@linkplain #enter() entered}. When no scope is open, tensors go to the global scope: each of its tensors' memory
 * is freed once the garbage collector finds the tensor (and every view of it) unreachable (convenient in jshell;
 * training code should always open scopes, whose memory goes back at a known moment).
 *
 * <p>Using a tensor after its scope closed throws {@link IllegalStateException}; it never reads freed memory.
 */
public final class Scope implements AutoCloseable {
    private static final ThreadLocal<ArrayDeque<Scope>> STACK = ThreadLocal.withInitial(ArrayDeque::new);
    private static final Scope GLOBAL = new Scope(null, "global", false);
    private static final AtomicLong LIVE = new AtomicLong();
    /** The most {@link #LIVE} has been since the start or the last {@link #resetPeak()}. */
    private static final AtomicLong PEAK = new AtomicLong();
    /**
     * Below this, a scope's allocations are carved from its slabs ({@link #carve}); at and above it, they come from
     * the C allocator one by one (the large ones through {@link #CACHE}), zeroed ones filled with zeros there.
     */
    private static final long NATIVE_MIN = 16 * 1024;
    private static final boolean POISON = Boolean.getBoolean("kestrel.poison");
    private static final MethodHandle ALIGNED_ALLOC;
    private static final MethodHandle FREE;

    static {
        MethodHandle alloc = null;
        MethodHandle free = null;
        // aligned_alloc/free from the C library: freed blocks are reused without the page faults and the
        // zeroing of a fresh Arena allocation. Only with native access granted (the launcher and the builds
        // pass --enable-native-access); without it every allocation goes through the arena.
        if (Scope.class.getModule().isNativeAccessEnabled()) {
            try {
                Linker linker = Linker.nativeLinker();
                var lookup = linker.defaultLookup();
                var a = lookup.find("aligned_alloc");
                var f = lookup.find("free");
                if (a.isPresent() && f.isPresent()) {
                    alloc = linker.downcallHandle(a.get(), FunctionDescriptor.of(ValueLayout.ADDRESS, ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG));
                    free = linker.downcallHandle(f.get(), FunctionDescriptor.ofVoid(ValueLayout.ADDRESS));
                }
            } catch (RuntimeException e) {
                alloc = null;
                free = null;
            }
        }
        ALIGNED_ALLOC = alloc;
        FREE = free;
    }

    /** Large C blocks of closed scopes, kept for the next ones (see {@link BlockCache}). */
    private static final BlockCache CACHE = new BlockCache(Long.getLong("kestrel.cache.mb", 2048) << 20,
            size -> alignedAlloc(size).address(), a -> free(MemorySegment.ofAddress(a)));

    /** This scope's arena; null for the global scope, which takes a new automatic arena per allocation. */
    private final Arena arena;
    private final String name;
    private final boolean counted;
    private final AtomicLong bytes = new AtomicLong();
    private volatile boolean closed;
    /** Where small allocations are carved from ({@link #carve}); null until the first. */
    private MemorySegment slab;
    private long slabUsed;

    private Scope(Arena arena, String name, boolean counted) {
        this.arena = arena;
        this.name = name;
        this.counted = counted;
    }

    /** Opens a scope and makes it this thread's current one until it is closed. */
    public static Scope open() {
        Scope s = new Scope(Arena.ofShared(), "scope", true);
        STACK.get().push(s);
        return s;
    }

    /** A scope that is not current (allocate in it explicitly, or {@link #enter()} it); close it when done. */
    public static Scope detached(String name) {
        return new Scope(Arena.ofShared(), name, true);
    }

    /** The innermost open scope of this thread, or the global scope when none is open. */
    public static Scope current() {
        Scope s = STACK.get().peek();
        return s == null ? GLOBAL : s;
    }

    /** The global, garbage-collected scope. */
    public static Scope global() {
        return GLOBAL;
    }

    /** Bytes allocated in open (non-global) scopes across all threads: the engine's native memory in use. */
    public static long liveBytes() {
        return LIVE.get();
    }

    /**
     * The most {@link #liveBytes()} has been since the JVM started or the last {@link #resetPeak()} (blocks held for
     * reuse not counted): what a step of training or a prefill needed at its height, as PyTorch's
     * {@code max_memory_allocated} reports for a GPU.
     */
    public static long peakBytes() {
        return PEAK.get();
    }

    /** Starts {@link #peakBytes()} again from the bytes in use now (process-wide: every thread's scopes count). */
    public static void resetPeak() {
        PEAK.set(LIVE.get());
    }

    /**
     * Makes this (detached) scope current until the returned handle is closed, without closing the scope:
     * {@code try (var in = weights.enter()) { ...allocate parameters... }}.
     */
    public Entered enter() {
        requireOpen();
        STACK.get().push(this);
        return new Entered(this);
    }

    /** The handle from {@link #enter()}: closing it pops the scope but keeps its memory. */
    public static final class Entered implements AutoCloseable {
        private final Scope scope;
        private boolean done;

        private Entered(Scope scope) {
            this.scope = scope;
        }

        @Override
        public void close() {
            if (!done) {
                done = true;
                pop(scope);
            }
        }
    }

    /** Allocates {@code bytes} zeroed bytes, 64-byte aligned, owned by this scope. */
    public MemorySegment allocate(long bytes) {
        requireOpen();
        MemorySegment seg;
        if (arena != null && bytes < NATIVE_MIN) {
            seg = carve(bytes).fill((byte) 0);
        } else if (arena != null && ALIGNED_ALLOC != null) {
            seg = fromC(bytes).asSlice(0, bytes).fill((byte) 0); // (a cached block when there is one)
        } else {
            seg = arenaForAllocation().allocate(Math.max(bytes, 1), 64).asSlice(0, bytes);
        }
        count(bytes);
        return seg;
    }

    private static final long SLAB_FIRST = 32 << 10;
    private static final long SLAB_LARGEST = 512 << 10;

    /**
     * {@code bytes} bytes (contents undefined), 64-byte aligned, from this scope's current slab, or from a new one
     * when they do not fit. A decode step of the 1.5B-Deep makes ~2,100 tensors under 16 KB; through the arena each
     * was a C allocation, a zeroing and a cleanup record, including the uninitialised ones. Carved from slabs (and
     * the uninitialised ones left unzeroed), decode ran 1.007-1.039x faster in three runs alternating with the old
     * way every 4 steps in one JVM (Zen 3, 2026-12-01). Slabs start at 32 KB, so a scope that holds a few small
     * tensors stays small, and double up to 512 KB; they are freed with the scope.
     */
    private synchronized MemorySegment carve(long bytes) {
        long size = (Math.max(bytes, 1) + 63) & -64L;
        if (slab == null || slabUsed + size > slab.byteSize()) {
            long next = slab == null ? SLAB_FIRST : Math.min(SLAB_LARGEST, 2 * slab.byteSize());
            long b = Math.max(next, size);
            slab = ALIGNED_ALLOC != null ? fromC(b) : arena.allocate(b, 64);
            slabUsed = 0;
        }
        MemorySegment seg = slab.asSlice(slabUsed, bytes);
        slabUsed += size;
        return seg;
    }

    /**
     * Allocates {@code bytes} bytes whose contents are undefined, 64-byte aligned, owned by this scope (freed
     * when it closes; reading it after that throws like any closed scope's memory). With
     * {@code -Dkestrel.poison=true} every byte is 0xFF.
     */
    public MemorySegment allocateUninitialized(long bytes) {
        requireOpen();
        MemorySegment seg;
        if (ALIGNED_ALLOC == null || arena == null) {
            // (the global scope's memory comes from the JVM, counted against -XX:MaxDirectMemorySize: running
            // short there makes the JVM collect garbage and free unreachable tensors; C-allocator memory would not)
            seg = allocate(bytes); // counted there
        } else {
            seg = bytes < NATIVE_MIN ? carve(bytes) : fromC(bytes).asSlice(0, bytes);
            count(bytes);
        }
        if (POISON) {
            seg.fill((byte) 0xFF);
        }
        return seg;
    }

    /**
     * At least {@code bytes} uninitialised bytes from the C allocator (rounded up to 64, and from {@link
     * BlockCache#MIN} on to a {@linkplain BlockCache#sizeClass size class}, taken from {@link #CACHE} when it holds
     * a block of that class), 64-byte aligned, given back to the cache or freed when this scope closes.
     */
    private MemorySegment fromC(long bytes) {
        long size = (bytes + 63) & -64L;
        if (size >= BlockCache.MIN) {
            long cls = BlockCache.sizeClass(size);
            long p = CACHE.take(cls);
            if (p == 0) {
                throw new OutOfMemoryError("the C allocator could not provide " + bytes + " bytes");
            }
            return MemorySegment.ofAddress(p).reinterpret(cls, arena, s -> CACHE.give(s.address(), cls));
        }
        return cAlloc(size, bytes).reinterpret(size, arena, Scope::free);
    }

    private static MemorySegment cAlloc(long size, long requested) {
        MemorySegment p = alignedAlloc(size);
        if (p.equals(MemorySegment.NULL)) {
            // blocks held for reuse may be what is missing: give them back and try once more
            CACHE.clear();
            p = alignedAlloc(size);
            if (p.equals(MemorySegment.NULL)) {
                throw new OutOfMemoryError("the C allocator could not provide " + requested + " bytes");
            }
        }
        return p;
    }

    /** {@code aligned_alloc(64, size)}: the block, or {@code NULL} when the C allocator has none. */
    private static MemorySegment alignedAlloc(long size) {
        try {
            return (MemorySegment) ALIGNED_ALLOC.invokeExact(64L, size);
        } catch (Throwable e) {
            throw new IllegalStateException("aligned_alloc failed", e);
        }
    }

    private void count(long bytes) {
        if (counted) {
            this.bytes.addAndGet(bytes);
            long now = LIVE.addAndGet(bytes);
            if (now > PEAK.get()) {
                PEAK.accumulateAndGet(now, Math::max);
            }
        }
    }

    /**
     * {@code bytes} bytes of GPU memory (contents undefined) owned by this scope: returned to the CUDA device's
     * allocator when the scope closes. Throws {@link IllegalStateException} naming what is missing without a GPU.
     */
    public ai.kestrel.kernels.cuda.DevBuf allocateDevice(long bytes) {
        requireOpen();
        ai.kestrel.kernels.cuda.DevBuf d = ai.kestrel.kernels.cuda.Cuda.get().alloc(bytes);
        if (arena == null) {
            return d.freeWhenUnreachable(); // the global scope
        }
        // the arena runs this when it closes
        MemorySegment.NULL.reinterpret(0, arena, ignored -> d.close());
        return d;
    }

    private static void free(MemorySegment p) {
        try {
            FREE.invokeExact(p);
        } catch (Throwable e) {
            throw new IllegalStateException("free failed", e);
        }
    }

    /**
     * Bytes held for reuse: large blocks whose scopes closed, kept so that the next tensors of the same sizes do not
     * fault in fresh pages (not counted in {@link #liveBytes()}). At most the larger of {@code -Dkestrel.cache.mb}
     * (default 2048; 0 turns the cache off) and the most large blocks ever in use at once minus those in use now, so
     * cached and live blocks together never take more than that peak or live + the capacity (see {@link BlockCache}).
     */
    public static long cachedBytes() {
        return CACHE.bytes();
    }

    /**
     * Frees the blocks held for reuse ({@link #cachedBytes()}), as after a phase whose large tensors will not come
     * back (a long prompt's prefill before a long decode, a training run before evaluation); the peak that lets the
     * cache grow past its capacity starts again from what is in use now.
     */
    public static void releaseCached() {
        CACHE.reset();
    }

    /** Bytes allocated in this scope so far. */
    public long bytes() {
        return bytes.get();
    }

    /**
     * The arena behind this scope, for code that maps files or allocates segments itself. For the global scope, a
     * new automatic arena on every call: what is allocated or mapped with it lives while it is reachable (call
     * this once for segments that must live together, e.g. a mapping and a view of it).
     */
    public Arena arena() {
        requireOpen();
        return arenaForAllocation();
    }

    /**
     * This scope's arena, or for the global scope a new automatic one: one automatic arena for every global
     * allocation would free none of them until the arena itself became unreachable, which a static field never
     * does (every tensor made outside a scope stayed allocated until the JVM exited).
     */
    private Arena arenaForAllocation() {
        return arena != null ? arena : Arena.ofAuto();
    }

    public boolean isOpen() {
        return !closed;
    }

    public String name() {
        return name;
    }

    private void requireOpen() {
        if (closed) {
            throw new IllegalStateException("scope '" + name + "' is closed");
        }
    }

    private static void pop(Scope s) {
        ArrayDeque<Scope> stack = STACK.get();
        if (stack.peek() != s) {
            throw new IllegalStateException("scopes must be closed in reverse order of opening: '" + s.name
                    + "' is not the innermost (innermost is " + (stack.peek() == null ? "none" : "'" + stack.peek().name + "'") + ")");
        }
        stack.pop();
    }

    /** Frees every tensor allocated in this scope. Closing twice does nothing. */
    @Override
    public void close() {
        if (this == GLOBAL) {
            throw new IllegalStateException("the global scope cannot be closed");
        }
        if (closed) {
            return;
        }
        if (STACK.get().contains(this)) {
            pop(this);
        }
        closed = true;
        arena.close();
        LIVE.addAndGet(-bytes.get());
    }

    @Override
    public String toString() {
        return "Scope[" + name + ", " + bytes.get() + " bytes" + (closed ? ", closed" : "") + "]";
    }
}
