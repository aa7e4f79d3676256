package ai.kestrel.kernels.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/** The committed fatbin is what the committed CUDA sources build, and nvcc/ptxas accept them (runs without a GPU). */
class CudaBuildTest {
    private static Path root() {
        return Path.of(System.getProperty("kestrel.testdata", "../testdata")).toAbsolutePath().getParent();
    }

    @Test
    void committedFatbinMatchesTheSourcesHash() throws Exception {
        Path src = root().resolve("kernels/src/main/cuda");
        List<Path> files;
        try (Stream<Path> s = Files.list(src)) {
            files = s.filter(p -> p.toString().endsWith(".cu") || p.toString().endsWith(".cuh"))
                    .sorted((a, b) -> a.getFileName().toString().compareTo(b.getFileName().toString())).toList();
        }
        MessageDigest md = MessageDigest.getInstance("SHA-256");
        for (Path f : files) {
            md.update(Files.readAllBytes(f));
        }
        String want;
        try (InputStream in = Cuda.class.getResourceAsStream(Cuda.FATBIN + ".sha256")) {
            assertNotNull(in, "kestrel.fatbin.sha256 is missing");
            want = new String(in.readAllBytes(), StandardCharsets.US_ASCII).strip();
        }
        assertEquals(want, HexFormat.of().formatHex(md.digest()),
                "kestrel.fatbin was built from other CUDA sources than these: run scripts/build-cuda and commit it");
        try (InputStream in = Cuda.class.getResourceAsStream(Cuda.FATBIN)) {
            assertNotNull(in, "kestrel.fatbin is missing");
        }
    }

    @Test
    void nvccAndPtxasAcceptEveryKernel() throws IOException, InterruptedException {
        boolean nvcc = Stream.of(System.getenv().getOrDefault("PATH", "").split(":"))
                .anyMatch(d -> Files.isExecutable(Path.of(d, "nvcc")));
        Assumptions.assumeTrue(nvcc, "nvcc is not on PATH");
        Assumptions.assumeTrue(System.getProperty("kestrel.vector.bits") == null, "checked once, in the default run");
        Process p = new ProcessBuilder(root().resolve("scripts/build-cuda").toString(), "--verify")
                .redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.waitFor(), out);
        System.out.println("[cuda] " + out.strip());
    }
}
