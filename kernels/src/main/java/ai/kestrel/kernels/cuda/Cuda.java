package ai.kestrel.kernels.cuda;

import static jcuda.driver.JCudaDriver.cuCtxSetCurrent;
import static jcuda.driver.JCudaDriver.cuCtxSynchronize;
import static jcuda.driver.JCudaDriver.cuDeviceGet;
import static jcuda.driver.JCudaDriver.cuDeviceGetAttribute;
import static jcuda.driver.JCudaDriver.cuDeviceGetCount;
import static jcuda.driver.JCudaDriver.cuDeviceGetName;
import static jcuda.driver.JCudaDriver.cuDevicePrimaryCtxRetain;
import static jcuda.driver.JCudaDriver.cuDeviceTotalMem;
import static jcuda.driver.JCudaDriver.cuDriverGetVersion;
import static jcuda.driver.JCudaDriver.cuInit;
import static jcuda.driver.JCudaDriver.cuLaunchKernel;
import static jcuda.driver.JCudaDriver.cuMemAlloc;
import static jcuda.driver.JCudaDriver.cuMemFree;
import static jcuda.driver.JCudaDriver.cuMemcpyDtoH;
import static jcuda.driver.JCudaDriver.cuMemcpyHtoD;
import static jcuda.driver.JCudaDriver.cuMemsetD8;
import static jcuda.driver.JCudaDriver.cuModuleGetFunction;
import static jcuda.driver.JCudaDriver.cuModuleLoadData;

import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import jcuda.Pointer;
import jcuda.driver.CUcontext;
import jcuda.driver.CUdevice;
import jcuda.driver.CUdevice_attribute;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUfunction;
import jcuda.driver.CUmodule;
import jcuda.driver.JCudaDriver;

/**
 * The CUDA device through JCuda's driver API: needs only the driver's {@code libcuda.so.1}, no toolkit.
 *
 * <p>Kestrel's CUDA kernels are compiled by nvcc at build time into one fatbin ({@code kestrel.fatbin}: sm_80 and
 * sm_90 machine code plus compute_80 PTX, which a newer GPU's driver compiles at load), shipped as a class-path
 * resource and loaded once. {@link #available()} probes once and caches the answer; without a GPU or driver it is
 * false and {@link #unavailableReason()} says what is missing, and nothing else in Kestrel changes.
 *
 * <p>Memory: {@link #alloc} hands out {@link DevBuf}s from a caching allocator (freed blocks are kept per size
 * class and reused, so a training step's allocations do not reach {@code cuMemAlloc} after the first step).
 * All calls run on the primary context of device 0, made current on the calling thread by each entry point;
 * launches go to the default stream and are ordered, copies back to the host synchronise.
 *
 * <p>With {@code -Dkestrel.cuda.emulate=true} the device is a CPU emulation instead ({@link CudaEmu}): the same
 * kernels, compiled from the same sources by g++ ({@code scripts/build-cuda-emu}), run on the CPU through the same
 * launch code, so the GPU twin tests run on machines without a GPU. It reports itself as an sm_90 device with 132
 * multiprocessors (an H100/H200, so the kernels take the paths they take there) and runs launches synchronously.
 */
public final class Cuda {
    /** The fatbin's class-path resource. */
    public static final String FATBIN = "/ai/kestrel/kernels/cuda/kestrel.fatbin";

    private static volatile Object probe; // a Cuda, or a String reason

    private final CUcontext ctx;
    private final String name;
    private final int major, minor, sms, driverVersion;
    /** Dynamic shared memory one block may have (the opt-in maximum: 227 KB on sm_90). */
    private final int maxSharedBytes;
    private final long totalMem;
    private final CUmodule module;
    private final CudaEmu emu; // non-null: the CPU emulation backend (ctx and module are then null)
    private final Map<String, CUfunction> functions = new ConcurrentHashMap<>();
    private final Map<Long, ArrayDeque<DevBuf.Ptr>> freeBlocks = new HashMap<>();
    private long cachedBytes, liveBytes, peakBytes;

    /** The CPU emulation: an sm_90 device with 132 multiprocessors and a nominal 16 GiB. */
    private Cuda(CudaEmu emu) {
        this.emu = emu;
        this.ctx = null;
        this.module = null;
        this.name = "CPU emulation of the CUDA kernels";
        this.major = 9;
        this.minor = 0;
        this.sms = 132;
        this.maxSharedBytes = 227 << 10;
        this.driverVersion = 0;
        this.totalMem = 16L << 30;
    }

    private Cuda(CUcontext ctx, CUdevice dev) {
        this.emu = null;
        this.ctx = ctx;
        byte[] nm = new byte[256];
        cuDeviceGetName(nm, nm.length, dev);
        int len = 0;
        while (len < nm.length && nm[len] != 0) len++;
        this.name = new String(nm, 0, len, java.nio.charset.StandardCharsets.US_ASCII);
        this.major = attr(dev, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR);
        this.minor = attr(dev, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR);
        this.sms = attr(dev, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT);
        this.maxSharedBytes = attr(dev, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN);
        int[] v = new int[1];
        cuDriverGetVersion(v);
        this.driverVersion = v[0];
        long[] mem = new long[1];
        cuDeviceTotalMem(mem, dev);
        this.totalMem = mem[0];
        byte[] image = fatbin();
        CUmodule m = new CUmodule();
        cuModuleLoadData(m, image);
        this.module = m;
    }

    private static int attr(CUdevice dev, int which) {
        int[] v = new int[1];
        cuDeviceGetAttribute(v, which, dev);
        return v[0];
    }

    private static byte[] fatbin() {
        try (InputStream in = Cuda.class.getResourceAsStream(FATBIN)) {
            if (in == null) {
                throw new IllegalStateException("the CUDA kernels' resource " + FATBIN + " is missing from the class path");
            }
            byte[] b = in.readAllBytes();
            byte[] z = java.util.Arrays.copyOf(b, b.length + 1); // the driver reads images as NUL-terminated when PTX
            return z;
        } catch (IOException e) {
            throw new IllegalStateException("cannot read " + FATBIN + ": " + e.getMessage(), e);
        }
    }

    /** True when a CUDA GPU and driver are usable; probes once. */
    public static boolean available() {
        return probe() instanceof Cuda;
    }

    /** Why CUDA is not usable, in one line, or {@code null} when it is. */
    public static String unavailableReason() {
        Object p = probe();
        return p instanceof String s ? s : null;
    }

    /** The device; throws {@link IllegalStateException} naming what is missing when there is none. */
    public static Cuda get() {
        Object p = probe();
        if (p instanceof Cuda c) {
            c.makeCurrent();
            return c;
        }
        throw new IllegalStateException("CUDA is not available: " + p);
    }

    private static Object probe() {
        Object p = probe;
        if (p == null) {
            synchronized (Cuda.class) {
                p = probe;
                if (p == null) {
                    p = doProbe();
                    probe = p;
                }
            }
        }
        return p;
    }

    private static Object doProbe() {
        if (Boolean.getBoolean("kestrel.cuda.disable")) {
            return "disabled by -Dkestrel.cuda.disable=true";
        }
        if (Boolean.getBoolean("kestrel.cuda.emulate")) {
            Object e = CudaEmu.probe();
            return e instanceof CudaEmu emu ? new Cuda(emu) : e;
        }
        // Cheap first: without the driver library JCuda would extract its natives and fail with a LinkageError.
        try {
            SymbolLookup.libraryLookup("libcuda.so.1", Arena.global());
        } catch (IllegalArgumentException | IllegalCallerException e) {
            return "no NVIDIA driver: libcuda.so.1 cannot be loaded (" + e.getMessage() + ")";
        }
        try {
            JCudaDriver.setExceptionsEnabled(true);
            cuInit(0);
            int[] count = new int[1];
            cuDeviceGetCount(count);
            if (count[0] == 0) {
                return "the NVIDIA driver sees no CUDA device";
            }
            CUdevice dev = new CUdevice();
            cuDeviceGet(dev, 0);
            CUcontext ctx = new CUcontext();
            cuDevicePrimaryCtxRetain(ctx, dev);
            cuCtxSetCurrent(ctx);
            return new Cuda(ctx, dev);
        } catch (LinkageError e) {
            return "JCuda's driver binding cannot load: " + e;
        } catch (RuntimeException e) {
            return "CUDA initialisation failed: " + e.getMessage();
        }
    }

    void makeCurrent() {
        if (emu == null) {
            cuCtxSetCurrent(ctx);
        }
    }

    /** True for the CPU emulation ({@code -Dkestrel.cuda.emulate=true}). */
    public boolean emulated() {
        return emu != null;
    }

    /** The GPU's name as the driver reports it, e.g. "NVIDIA H200". */
    public String name() {
        return name;
    }

    /** Compute capability, e.g. 90 for Hopper. */
    public int computeCapability() {
        return major * 10 + minor;
    }

    /** Dynamic shared memory one block may opt into (227 KB on sm_90; the emulator reports sm_90's). */
    public int maxSharedBytes() {
        return maxSharedBytes;
    }

    /** Number of streaming multiprocessors. */
    public int multiprocessors() {
        return sms;
    }

    /** The driver's CUDA version, e.g. 13000. */
    public int driverVersion() {
        return driverVersion;
    }

    /** Device memory in bytes. */
    public long totalMemory() {
        return totalMem;
    }

    /** One line describing the device. */
    public String describe() {
        if (emu != null) {
            return name + " (" + emu.library() + ", " + emu.kernelCount() + " kernels; reported as sm_90 with " + sms
                    + " SMs)";
        }
        return name + " (sm_" + computeCapability() + ", " + sms + " SMs, " + (totalMem >> 20) + " MiB, driver CUDA "
                + driverVersion / 1000 + "." + (driverVersion % 1000) / 10 + ")";
    }

    /** A kernel of the fatbin by its {@code extern "C"} name. */
    CUfunction function(String kernel) {
        return functions.computeIfAbsent(kernel, k -> {
            CUfunction f = new CUfunction();
            cuModuleGetFunction(f, module, k);
            return f;
        });
    }

    // ---- memory

    private static long sizeClass(long bytes) {
        long b = Math.max(bytes, 256);
        if (b <= (1L << 20)) {
            return Long.highestOneBit(b - 1) << 1; // powers of two up to 1 MiB
        }
        return (b + (1L << 20) - 1) & -(1L << 20); // whole MiB above
    }

    /** A device buffer of at least {@code bytes} bytes, uninitialised; close it to give it back. */
    public DevBuf alloc(long bytes) {
        if (bytes < 0) {
            throw new IllegalArgumentException("negative allocation: " + bytes);
        }
        long cls = sizeClass(bytes);
        DevBuf.Ptr p;
        synchronized (this) {
            ArrayDeque<DevBuf.Ptr> q = freeBlocks.get(cls);
            p = q == null ? null : q.poll();
            if (p != null) {
                cachedBytes -= cls;
            }
            liveBytes += cls;
            peakBytes = Math.max(peakBytes, liveBytes);
        }
        if (p == null && emu != null) {
            long a;
            try {
                a = emu.alloc(cls);
            } catch (OutOfMemoryError e) {
                trim();
                a = emu.alloc(cls); // once more with the cache released
            }
            p = new DevBuf.Ptr(null, a);
        } else if (p == null) {
            makeCurrent();
            CUdeviceptr d = new CUdeviceptr();
            try {
                cuMemAlloc(d, cls);
            } catch (RuntimeException e) {
                trim();
                cuMemAlloc(d, cls); // once more with the cache released
            }
            p = new DevBuf.Ptr(d, 0);
        }
        return new DevBuf(this, p, bytes, cls);
    }

    /** A zeroed device buffer of {@code bytes} bytes. */
    public DevBuf allocZeroed(long bytes) {
        DevBuf b = alloc(bytes);
        if (bytes > 0 && emu != null) {
            CudaEmu.segment(b.address(), bytes).fill((byte) 0);
        } else if (bytes > 0) {
            makeCurrent();
            cuMemsetD8(b.ptr(), (byte) 0, bytes);
        }
        return b;
    }

    synchronized void release(DevBuf.Ptr p, long cls) {
        liveBytes -= cls;
        cachedBytes += cls;
        freeBlocks.computeIfAbsent(cls, k -> new ArrayDeque<>()).push(p);
    }

    /** Returns every cached free block to the driver. */
    public void trim() {
        List<DevBuf.Ptr> all = new ArrayList<>();
        synchronized (this) {
            freeBlocks.values().forEach(all::addAll);
            freeBlocks.clear();
            cachedBytes = 0;
        }
        makeCurrent();
        for (DevBuf.Ptr p : all) {
            if (emu != null) {
                emu.free(p.address());
            } else {
                cuMemFree(p.cu());
            }
        }
    }

    /** Bytes handed out and not yet closed (by size class). */
    public synchronized long liveBytes() {
        return liveBytes;
    }

    /** The most bytes live at once since this device was opened or since the last {@link #resetPeak()}. */
    public synchronized long peakBytes() {
        return peakBytes;
    }

    /** Starts {@link #peakBytes()} again from the bytes live now. */
    public synchronized void resetPeak() {
        peakBytes = liveBytes;
    }

    /** Bytes held in the allocator's cache. */
    public synchronized long cachedBytes() {
        return cachedBytes;
    }

    // ---- copies

    /** Copies {@code src} (host) to the start of {@code dst}. */
    public void upload(MemorySegment src, DevBuf dst) {
        upload(src, dst, 0);
    }

    /** Copies {@code src} (host) into {@code dst} at byte offset {@code dstOffset}. */
    public void upload(MemorySegment src, DevBuf dst, long dstOffset) {
        long n = src.byteSize();
        if (dstOffset < 0 || dstOffset + n > dst.bytes()) {
            throw new IndexOutOfBoundsException("upload of " + n + " bytes at " + dstOffset + " into a device buffer of " + dst.bytes());
        }
        if (emu != null) {
            CudaEmu.segment(dst.address() + dstOffset, n).copyFrom(src);
            return;
        }
        makeCurrent();
        MemorySegment host = src.isNative() ? src : Arena.ofAuto().allocate(n, 64).copyFrom(src);
        for (long off = 0; off < n; ) {
            int len = (int) Math.min(n - off, 1L << 30);
            cuMemcpyHtoD(dst.ptr().withByteOffset(dstOffset + off), Pointer.to(host.asSlice(off, len).asByteBuffer()), len);
            off += len;
        }
    }

    /** Copies the first {@code dst.byteSize()} bytes of {@code src} to the host; waits for earlier launches. */
    public void download(DevBuf src, MemorySegment dst) {
        download(src, 0, dst);
    }

    /** Copies {@code dst.byteSize()} bytes from {@code src} at {@code srcOffset} to the host. */
    public void download(DevBuf src, long srcOffset, MemorySegment dst) {
        long n = dst.byteSize();
        if (srcOffset < 0 || srcOffset + n > src.bytes()) {
            throw new IndexOutOfBoundsException("download of " + n + " bytes at " + srcOffset + " from a device buffer of " + src.bytes());
        }
        if (emu != null) {
            dst.copyFrom(CudaEmu.segment(src.address() + srcOffset, n));
            return;
        }
        makeCurrent();
        if (!dst.isNative()) {
            MemorySegment tmp = Arena.ofAuto().allocate(n, 64);
            download(src, srcOffset, tmp);
            dst.copyFrom(tmp);
            return;
        }
        for (long off = 0; off < n; ) {
            int len = (int) Math.min(n - off, 1L << 30);
            cuMemcpyDtoH(Pointer.to(dst.asSlice(off, len).asByteBuffer()), src.ptr().withByteOffset(srcOffset + off), len);
            off += len;
        }
    }

    /** A new device buffer holding a copy of {@code src}. */
    public DevBuf copyOf(MemorySegment src) {
        DevBuf b = alloc(src.byteSize());
        upload(src, b);
        return b;
    }

    /** Waits until every launch so far has finished (and reports the first kernel fault). */
    public void synchronize() {
        if (emu != null) {
            return; // emulated launches run synchronously
        }
        makeCurrent();
        cuCtxSynchronize();
    }

    // ---- launches

    /**
     * Launches {@code kernel} on a 1-D grid. Arguments: {@link DevBuf} (a device pointer), {@link Integer},
     * {@link Long}, {@link Float}, {@link Double}; in the order and types of the kernel's C signature.
     */
    public void launch(String kernel, long gridX, int blockX, int sharedBytes, Object... args) {
        launch(kernel, gridX, 1, 1, blockX, 1, sharedBytes, args);
    }

    /**
     * Launches {@code kernel} on a 3-D grid of 1-D/2-D blocks; see {@link #launch(String, long, int, int, Object...)}.
     * Pass the kernel's arguments as one {@code Object[]}: with loose varargs whose first arguments are ints, javac
     * cannot tell this form from the 1-D one.
     */
    public void launch(String kernel, long gridX, int gridY, int gridZ, int blockX, int blockY, int sharedBytes, Object... args) {
        if (gridX <= 0 || gridY <= 0 || gridZ <= 0) {
            return; // nothing to do
        }
        if (gridX > Integer.MAX_VALUE) {
            throw new IllegalArgumentException(kernel + ": grid of " + gridX + " blocks is too large");
        }
        if (sharedBytes > maxSharedBytes) {
            // checked here, the same on the emulator: the driver's answer would be a bare CUDA_ERROR_INVALID_VALUE
            throw new IllegalArgumentException(kernel + ": these dimensions need " + sharedBytes
                    + " bytes of shared memory per block, the device allows " + maxSharedBytes);
        }
        if (emu != null) {
            emu.launch(kernel, (int) gridX, gridY, gridZ, blockX, blockY, 1, sharedBytes, args);
            return;
        }
        Pointer[] ps = new Pointer[args.length];
        for (int i = 0; i < args.length; i++) {
            Object a = args[i];
            ps[i] = switch (a) {
                case DevBuf d -> Pointer.to(d.ptr());
                case Integer v -> Pointer.to(new int[] {v});
                case Long v -> Pointer.to(new long[] {v});
                case Float v -> Pointer.to(new float[] {v});
                case Double v -> Pointer.to(new double[] {v});
                case null -> Pointer.to(new CUdeviceptr()); // a null device pointer
                default -> throw new IllegalArgumentException(kernel + ": argument " + i + " of type " + a.getClass().getName());
            };
        }
        makeCurrent();
        if (sharedBytes > 48 * 1024) {
            JCudaDriver.cuFuncSetAttribute(function(kernel),
                    jcuda.driver.CUfunction_attribute.CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, sharedBytes);
        }
        cuLaunchKernel(function(kernel), (int) gridX, gridY, gridZ, blockX, blockY, 1, sharedBytes, null,
                Pointer.to(ps), null);
        if (DEBUG_SYNC) {
            cuCtxSynchronize();
        }
    }

    /** With {@code -Dkestrel.cuda.sync=true} every launch is followed by a synchronisation (faults name their kernel). */
    private static final boolean DEBUG_SYNC = Boolean.getBoolean("kestrel.cuda.sync");

    /**
     * Milliseconds the GPU spent on the launches {@code work} makes, by CUDA events around it on the default stream
     * (host time between launches is not counted when the GPU is kept busy).
     */
    public float timeMs(Runnable work) {
        if (emu != null) {
            long t0 = System.nanoTime(); // emulated launches are synchronous: wall-clock time
            work.run();
            return (System.nanoTime() - t0) / 1e6f;
        }
        makeCurrent();
        jcuda.driver.CUevent start = new jcuda.driver.CUevent(), stop = new jcuda.driver.CUevent();
        JCudaDriver.cuEventCreate(start, 0);
        JCudaDriver.cuEventCreate(stop, 0);
        try {
            JCudaDriver.cuEventRecord(start, null);
            work.run();
            JCudaDriver.cuEventRecord(stop, null);
            JCudaDriver.cuEventSynchronize(stop);
            float[] ms = new float[1];
            JCudaDriver.cuEventElapsedTime(ms, start, stop);
            return ms[0];
        } finally {
            JCudaDriver.cuEventDestroy(start);
            JCudaDriver.cuEventDestroy(stop);
        }
    }

    /** Sets {@code bytes} bytes of {@code d} from byte {@code offset} on to {@code value} (asynchronous). */
    public void fill(DevBuf d, int value, long bytes) {
        if (bytes > d.bytes()) {
            throw new IndexOutOfBoundsException("fill of " + bytes + " bytes in a device buffer of " + d.bytes());
        }
        if (emu != null) {
            CudaEmu.segment(d.address(), bytes).fill((byte) value);
            return;
        }
        makeCurrent();
        if (bytes > 0) {
            JCudaDriver.cuMemsetD8Async(d.ptr(), (byte) value, bytes, null);
        }
    }

    /** Device-to-device copy of {@code bytes} bytes (asynchronous on the default stream). */
    public void copy(DevBuf src, DevBuf dst, long bytes) {
        if (bytes > src.bytes() || bytes > dst.bytes()) {
            throw new IndexOutOfBoundsException("copy of " + bytes + " bytes between buffers of " + src.bytes() + " and " + dst.bytes());
        }
        if (emu != null) {
            MemorySegment.copy(CudaEmu.segment(src.address(), bytes), 0, CudaEmu.segment(dst.address(), bytes), 0, bytes);
            return;
        }
        makeCurrent();
        JCudaDriver.cuMemcpyDtoDAsync(dst.ptr(), src.ptr(), bytes, null);
    }

    /**
     * Copies {@code rows} runs of {@code widthBytes} bytes between device buffers: run {@code r} from
     * {@code src + srcOffset + r * srcPitch} to {@code dst + dstOffset + r * dstPitch} (asynchronous; what narrowing,
     * splitting and joining tensors along a dimension need).
     */
    public void copy2d(DevBuf src, long srcOffset, long srcPitch, DevBuf dst, long dstOffset, long dstPitch, long widthBytes, long rows) {
        if (rows <= 0 || widthBytes <= 0) {
            return;
        }
        long srcEnd = srcOffset + (rows - 1) * srcPitch + widthBytes;
        long dstEnd = dstOffset + (rows - 1) * dstPitch + widthBytes;
        if (srcOffset < 0 || dstOffset < 0 || srcEnd > src.bytes() || dstEnd > dst.bytes() || widthBytes > srcPitch || widthBytes > dstPitch) {
            throw new IndexOutOfBoundsException("copy2d of " + rows + " x " + widthBytes + " bytes outside its buffers");
        }
        if (emu != null) {
            MemorySegment from = CudaEmu.segment(src.address(), src.bytes()), to = CudaEmu.segment(dst.address(), dst.bytes());
            for (long r = 0; r < rows; r++) {
                MemorySegment.copy(from, srcOffset + r * srcPitch, to, dstOffset + r * dstPitch, widthBytes);
            }
            return;
        }
        makeCurrent();
        if (rows == 1 || (srcPitch == widthBytes && dstPitch == widthBytes)) {
            JCudaDriver.cuMemcpyDtoDAsync(dst.ptr().withByteOffset(dstOffset), src.ptr().withByteOffset(srcOffset), rows * widthBytes, null);
            return;
        }
        jcuda.driver.CUDA_MEMCPY2D m = new jcuda.driver.CUDA_MEMCPY2D();
        m.srcMemoryType = jcuda.driver.CUmemorytype.CU_MEMORYTYPE_DEVICE;
        m.srcDevice = src.ptr().withByteOffset(srcOffset);
        m.srcPitch = srcPitch;
        m.dstMemoryType = jcuda.driver.CUmemorytype.CU_MEMORYTYPE_DEVICE;
        m.dstDevice = dst.ptr().withByteOffset(dstOffset);
        m.dstPitch = dstPitch;
        m.WidthInBytes = widthBytes;
        m.Height = rows;
        JCudaDriver.cuMemcpy2DAsync(m, null);
    }

    /** Blocks of {@code threads} needed to cover {@code n} items. */
    public static long blocks(long n, int threads) {
        return (n + threads - 1) / threads;
    }
}
