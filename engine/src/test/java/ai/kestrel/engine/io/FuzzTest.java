package ai.kestrel.engine.io;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import ai.kestrel.engine.Scope;
import ai.kestrel.engine.Tensor;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * Hostile files: seeded mutations of the fixture files (truncation, bit flips in the header, header fields set
 * to extreme values, edits of the JSON header) must parse or fail with {@link TensorFileException}, nothing
 * else: no out-of-bounds read, no OutOfMemoryError, no Gson or number-format exception leaking out, no hang.
 */
class FuzzTest {
    interface Parser {
        TensorSource parse(Path name, MemorySegment seg) throws TensorFileException;
    }

    record Stats(int ok, int rejected) {
    }

    static Stats fuzz(Path file, Parser parser, long headerEnd, int mutations, long seed) throws IOException {
        byte[] original = Files.readAllBytes(file);
        SplittableRandom rnd = new SplittableRandom(seed);
        int ok = 0;
        int rejected = 0;
        for (int i = 0; i < mutations; i++) {
            byte[] b = original.clone();
            String what = mutate(b, rnd, headerEnd);
            if (what.startsWith("truncate")) {
                b = java.util.Arrays.copyOf(b, Integer.parseInt(what.substring(9)));
            }
            MemorySegment seg = MemorySegment.ofArray(b);
            try {
                TensorSource src = parser.parse(file, seg);
                for (String name : src.names()) {
                    try {
                        Tensor t = src.tensor(name);
                        MemorySegment s = t.segment();
                        if (s.byteSize() > 0) {
                            s.get(ValueLayout.JAVA_BYTE, 0);
                            s.get(ValueLayout.JAVA_BYTE, s.byteSize() - 1);
                        }
                    } catch (TensorFileException expected) {
                        // an unsupported stored type is a documented refusal
                    }
                }
                ok++;
            } catch (TensorFileException e) {
                assertTrue(e.getMessage().startsWith(file.getFileName() + ": "), "message must name the file: " + e.getMessage());
                rejected++;
            } catch (Throwable t) {
                fail(file.getFileName() + " seed " + seed + " mutation " + i + " (" + what + ") threw " + t, t);
            }
        }
        return new Stats(ok, rejected);
    }

    /** Applies one random mutation in place (or describes a truncation); returns what it did. */
    static String mutate(byte[] b, SplittableRandom rnd, long headerEnd) {
        int region = (int) Math.min(b.length, Math.max(16, headerEnd));
        switch (rnd.nextInt(4)) {
            case 0 -> {
                return "truncate " + rnd.nextInt(b.length);
            }
            case 1 -> {
                int flips = 1 + rnd.nextInt(8);
                StringBuilder sb = new StringBuilder("flip");
                for (int k = 0; k < flips; k++) {
                    int at = rnd.nextInt(region);
                    b[at] ^= (byte) (1 << rnd.nextInt(8));
                    sb.append(' ').append(at);
                }
                return sb.toString();
            }
            case 2 -> {
                long[] extremes = {0, -1, Long.MAX_VALUE, Long.MIN_VALUE, Integer.MAX_VALUE, 0xFFFFFFFFL, 1L << 40, rnd.nextLong(), 5, 65};
                long v = extremes[rnd.nextInt(extremes.length)];
                int at = rnd.nextInt(Math.max(1, region - 8));
                int width = rnd.nextBoolean() ? 8 : 4;
                ByteBuffer bb = ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
                if (width == 8) {
                    bb.putLong(at, v);
                } else {
                    bb.putInt(at, (int) v);
                }
                return "set " + width + " bytes at " + at + " to " + v;
            }
            default -> {
                // an ASCII digit or punctuation where the header has one: edits numbers and JSON structure
                int at = rnd.nextInt(region);
                byte[] choices = "0123456789-.,:{}[]\"e ".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
                b[at] = choices[rnd.nextInt(choices.length)];
                return "char at " + at;
            }
        }
    }

    static long ggufHeaderEnd(Path f) throws IOException {
        try (Scope s = Scope.open()) {
            return Gguf.open(f, s).infos().values().stream().mapToLong(Gguf.Info::start).min().orElse(Files.size(f));
        }
    }

    @Test
    void ggufReaderAcceptsOnlyValidFilesOrSaysWhy() throws IOException {
        List<String> summary = new ArrayList<>();
        long seed = 100;
        for (String model : Fixtures.MODELS) {
            for (String f : List.of("model-f32.gguf", "model-q8_0.gguf")) {
                Path p = Fixtures.file(model, f);
                Stats st = fuzz(p, Gguf::parse, ggufHeaderEnd(p), 400, seed++);
                summary.add(model + "/" + f + " " + st);
                assertTrue(st.rejected() > 0, "mutations must be caught: " + st);
            }
        }
        System.out.println("GGUF fuzz: " + summary);
    }

    @Test
    void safetensorsReaderAcceptsOnlyValidFilesOrSaysWhy() throws IOException {
        List<String> summary = new ArrayList<>();
        long seed = 200;
        for (String model : Fixtures.MODELS) {
            Path p = Fixtures.file(model, "model.safetensors");
            byte[] b = Files.readAllBytes(p);
            long headerEnd = 8 + ByteBuffer.wrap(b, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
            Stats st = fuzz(p, SafeTensors::parse, headerEnd, 800, seed++);
            summary.add(model + " " + st);
            assertTrue(st.rejected() > 0, "mutations must be caught: " + st);
        }
        System.out.println("safetensors fuzz: " + summary);
    }
}
