package ai.kestrel.engine.io;

import ai.kestrel.engine.Scope;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/** Read-only file mappings for the tensor-file readers. */
final class Mapping {
    private static final boolean NATIVE = Mapping.class.getModule().isNativeAccessEnabled();

    private Mapping() {
    }

    /**
     * Maps {@code file} read-only for the life of {@code scope}. Where the engine has native access, the pages
     * are handed out as a plain native segment (same address, same scope, read-only): the kernels then meet one
     * segment class for weights and activations alike. A mapped segment next to native ones makes the type
     * profile of every vector load polymorphic, and the compiled M = 1 matmul ran at half speed (measured on
     * the 1.5B-Deep decode: 18 against 30+ GB/s).
     */
    static MemorySegment map(Path file, Scope scope) throws IOException {
        MemorySegment seg;
        Arena arena = scope.arena(); // once: the global scope gives a new arena per call, and the view must keep this one
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            seg = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena);
        }
        if (!NATIVE) {
            return seg;
        }
        return MemorySegment.ofAddress(seg.address()).reinterpret(seg.byteSize(), arena, null).asReadOnly();
    }
}
