package ai.kestrel.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
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

    /**
     * A run on a fixture model prints one row under the header with every column filled, the warm-up run's prefill
     * and decode seconds included (the first-run column).
     */
    @Test
    void reportsTheFirstRunBesideTheMeasuredOnes() throws Exception {
        String root = System.getProperty("kestrel.testdata");
        if (root == null) {
            throw new IllegalStateException("system property kestrel.testdata is not set (the parent pom sets it for Surefire)");
        }
        Path model = Path.of(root, "fixtures", "falcon-h1-g1", "model-f32.gguf");
        PrintStream saved = System.out;
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        try {
            System.setOut(new PrintStream(buf, true, java.nio.charset.StandardCharsets.UTF_8));
            EndToEnd.main(new String[] {model.toString(), "--prompt", "6", "--decode", "3", "--repeats", "1"});
        } finally {
            System.setOut(saved);
        }
        String[] lines = buf.toString(java.nio.charset.StandardCharsets.UTF_8).strip().split("\n");
        assertEquals(3, lines.length, String.join("\n", lines));
        assertTrue(lines[0].endsWith("| first run s (prefill + decode) |"), lines[0]);
        String[] header = lines[0].split("\\|", -1);
        String[] row = lines[2].split("\\|", -1);
        assertEquals(header.length, row.length, "one cell per column: " + lines[2]);
        assertTrue(row[1].contains("model-f32.gguf"), lines[2]);
        Matcher first = Pattern.compile(" (\\d+\\.\\d) \\+ (\\d+\\.\\d) ").matcher(row[row.length - 2]);
        assertTrue(first.matches(), "first-run cell: '" + row[row.length - 2] + "'");
        double decodeTokS = Double.parseDouble(row[4].strip());
        assertTrue(decodeTokS > 0, lines[2]);
    }
}
