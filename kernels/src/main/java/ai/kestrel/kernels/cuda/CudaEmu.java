package ai.kestrel.kernels.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_DOUBLE;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.io.IOException;
import java.lang.invoke.MethodHandle;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HexFormat;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The CPU emulation backend of {@link Cuda}, chosen by {@code -Dkestrel.cuda.emulate=true}: Kestrel's CUDA kernels
 * compiled from their unmodified sources by g++ into {@code libkestrel_cuda_emu.so} ({@code scripts/build-cuda-emu};
 * what is and is not emulated: {@code kernels/src/emu/cuda_emu.h}) and called through the FFM linker. Device memory
 * is native host memory from the library's allocator (256-byte aligned, as {@code cuMemAlloc}); a launch passes an
 * array of pointers to the arguments' values, as {@code cuLaunchKernel}'s {@code kernelParams}, plus their type
 * codes, which the library checks against the kernel's C signature (a mismatch fails the launch instead of
 * reading garbage). Launches run synchronously on the calling thread, one block at a time.
 *
 * <p>The library is {@code -Dkestrel.cuda.emulator=PATH}, or else the first of {@code target/emu/},
 * {@code ../kernels/target/emu/} and {@code kernels/target/emu/} (the module, a sibling module and the repository
 * root as working directory) that holds {@code libkestrel_cuda_emu.so}. A library built from other kernel sources than
 * those next to it is refused (the reason names the build script), so a stale build never passes for the kernels.
 */
final class CudaEmu {
    static final String LIBRARY = "libkestrel_cuda_emu.so";

    private final Path library;
    private final int kernelCount;
    private final String sourcesSha256;
    private final MethodHandle launch, alloc, free;

    private CudaEmu(Path library) {
        this.library = library;
        SymbolLookup lib = SymbolLookup.libraryLookup(library, Arena.global());
        Linker linker = Linker.nativeLinker();
        this.launch = linker.downcallHandle(lib.findOrThrow("emu_launch"), FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS,
                JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, JAVA_INT));
        this.alloc = linker.downcallHandle(lib.findOrThrow("emu_alloc"), FunctionDescriptor.of(ADDRESS, JAVA_LONG));
        this.free = linker.downcallHandle(lib.findOrThrow("emu_free"), FunctionDescriptor.ofVoid(ADDRESS));
        MethodHandle count = linker.downcallHandle(lib.findOrThrow("emu_kernel_count"), FunctionDescriptor.of(JAVA_INT));
        MethodHandle sha = linker.downcallHandle(lib.findOrThrow("emu_sources_sha256"), FunctionDescriptor.of(ADDRESS));
        try {
            this.kernelCount = (int) count.invokeExact();
            this.sourcesSha256 = ((MemorySegment) sha.invokeExact()).reinterpret(256).getString(0);
        } catch (Throwable t) {
            throw new IllegalStateException("the CUDA emulator library does not answer: " + t, t);
        }
    }

    /**
     * The SHA-256 of the kernel sources next to the library ({@code <kernels>/src/main/cuda} for a library in
     * {@code <kernels>/target/emu}), as scripts/build-cuda computes it; null when they are not there.
     */
    private static String sourcesSha256(Path library) {
        Path src = library.getParent().getParent().getParent().resolve(Path.of("src", "main", "cuda"));
        if (!Files.isDirectory(src)) {
            return null;
        }
        try (var files = Files.list(src)) {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            List<Path> all = files.filter(p -> p.toString().endsWith(".cu") || p.toString().endsWith(".cuh"))
                    .sorted(Comparator.comparing(p -> p.getFileName().toString().getBytes(StandardCharsets.UTF_8),
                            Arrays::compareUnsigned))
                    .toList();
            for (Path p : all) {
                md.update(Files.readAllBytes(p));
            }
            return HexFormat.of().formatHex(md.digest());
        } catch (IOException | NoSuchAlgorithmException e) {
            return null;
        }
    }

    /** The emulator, or a one-line reason why there is none. */
    static Object probe() {
        String explicit = System.getProperty("kestrel.cuda.emulator");
        List<Path> candidates = new ArrayList<>();
        if (explicit != null && !explicit.isBlank()) {
            candidates.add(Path.of(explicit));
        } else {
            candidates.add(Path.of("target", "emu", LIBRARY));
            candidates.add(Path.of("..", "kernels", "target", "emu", LIBRARY));
            candidates.add(Path.of("kernels", "target", "emu", LIBRARY));
        }
        for (Path p : candidates) {
            if (Files.isRegularFile(p)) {
                Path lib = p.toAbsolutePath().normalize();
                try {
                    CudaEmu emu = new CudaEmu(lib);
                    String want = sourcesSha256(lib);
                    if (want != null && !want.equals(emu.sourcesSha256)) {
                        return "the CUDA emulator library " + lib + " was built from other kernel sources than "
                                + "kernels/src/main/cuda: run scripts/build-cuda-emu";
                    }
                    return emu;
                } catch (RuntimeException e) {
                    return "the CUDA emulator library " + p.toAbsolutePath().normalize() + " cannot be loaded: " + e.getMessage();
                }
            }
        }
        return "CUDA emulation was asked for (-Dkestrel.cuda.emulate=true) but " + LIBRARY
                + " is missing: run scripts/build-cuda-emu (looked for " + candidates.stream()
                        .map(p -> p.toAbsolutePath().normalize().toString()).toList() + ")";
    }

    Path library() {
        return library;
    }

    int kernelCount() {
        return kernelCount;
    }

    /** {@code bytes} of native memory (256-byte aligned, uninitialised); its address. */
    long alloc(long bytes) {
        try {
            MemorySegment p = (MemorySegment) alloc.invokeExact(bytes);
            if (p.address() == 0) {
                throw new OutOfMemoryError("the CUDA emulator cannot allocate " + bytes + " bytes");
            }
            return p.address();
        } catch (Error | RuntimeException e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    void free(long address) {
        try {
            free.invokeExact(MemorySegment.ofAddress(address));
        } catch (Error | RuntimeException e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /** {@code bytes} bytes of emulated device memory at {@code address}, as a segment. */
    static MemorySegment segment(long address, long bytes) {
        return MemorySegment.ofAddress(address).reinterpret(bytes);
    }

    /** Runs {@code kernel} to completion; arguments as {@link Cuda#launch}, a {@link DevBuf} being its address. */
    void launch(String kernel, int gx, int gy, int gz, int bx, int by, int bz, int sharedBytes, Object... args) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment ptrs = a.allocate(ADDRESS, Math.max(1, args.length));
            StringBuilder sig = new StringBuilder(args.length);
            for (int i = 0; i < args.length; i++) {
                Object arg = args[i];
                MemorySegment v;
                switch (arg) {
                    case DevBuf d -> {
                        v = a.allocateFrom(JAVA_LONG, d.address());
                        sig.append('p');
                    }
                    case Integer x -> {
                        v = a.allocateFrom(JAVA_INT, x);
                        sig.append('i');
                    }
                    case Long x -> {
                        v = a.allocateFrom(JAVA_LONG, x);
                        sig.append('l');
                    }
                    case Float x -> {
                        v = a.allocateFrom(JAVA_FLOAT, x);
                        sig.append('f');
                    }
                    case Double x -> {
                        v = a.allocateFrom(JAVA_DOUBLE, x);
                        sig.append('d');
                    }
                    case null -> {
                        v = a.allocateFrom(JAVA_LONG, 0L); // a null device pointer
                        sig.append('p');
                    }
                    default -> throw new IllegalArgumentException(kernel + ": argument " + i + " of type " + arg.getClass().getName());
                }
                ptrs.setAtIndex(ADDRESS, i, v);
            }
            MemorySegment err = a.allocate(JAVA_BYTE, 512);
            int rc = (int) launch.invokeExact(a.allocateFrom(kernel), a.allocateFrom(sig.toString()), gx, gy, gz, bx, by, bz,
                    sharedBytes, ptrs, err, 512);
            if (rc != 0) {
                throw new IllegalStateException("emulated CUDA launch failed: " + err.getString(0));
            }
        } catch (Error | RuntimeException e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }
}
