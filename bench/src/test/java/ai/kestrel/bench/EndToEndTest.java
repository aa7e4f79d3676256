package ai.kestrel.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class EndToEndTest {
    /**
     * The page-size column reads this process's own mappings: a mapped, touched file (named itself, or through its
     * folder) has resident pages and a share in [0, 1]; a file that is not mapped, and a path that is only a string
     * prefix of the mapped one, have none.
     */
    @Test
    void hugeMappedShareReadsTheModelsOwnMappings(@TempDir Path dir) throws IOException {
        Path folder = Files.createDirectory(dir.resolve("model"));
        Path file = folder.resolve("weights.bin");
        Files.write(file, new byte[4 << 20]);
        Path other = dir.resolve("other.bin");
        Files.write(other, new byte[1 << 20]);
        assertEquals(-1, EndToEnd.hugeMappedShare(file), "not mapped yet");
        try (Arena arena = Arena.ofConfined(); FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            MemorySegment m = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena);
            long sum = 0;
            for (long o = 0; o < m.byteSize(); o += 4096) {
                sum += m.get(ValueLayout.JAVA_BYTE, o);
            }
            assertEquals(0, sum);
            double share = EndToEnd.hugeMappedShare(file);
            assertTrue(share >= 0 && share <= 1, "share of the mapped file: " + share);
            double viaFolder = EndToEnd.hugeMappedShare(folder);
            assertTrue(viaFolder >= 0 && viaFolder <= 1, "share of the folder: " + viaFolder);
            assertEquals(-1, EndToEnd.hugeMappedShare(other), "a file never mapped");
            assertEquals(-1, EndToEnd.hugeMappedShare(dir.resolve("mod")), "a path that only prefixes the mapped one");
        }
    }
}
