package ai.kestrel.engine.io;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/** The llama.cpp fixtures under testdata/ (a missing file fails the test, never skips it). */
final class Fixtures {
    static final List<String> MODELS = List.of("falcon-h1-g1", "falcon-h1-g2", "falcon-mamba");
    static final List<String> GGUF = List.of("model-f32.gguf", "model-f16.gguf", "model-bf16.gguf", "model-q8_0.gguf");

    private Fixtures() {
    }

    static Path dir(String model) {
        String root = System.getProperty("kestrel.testdata");
        if (root == null) {
            throw new IllegalStateException("system property kestrel.testdata is not set");
        }
        Path p = Path.of(root, "fixtures", model);
        if (!Files.isDirectory(p)) {
            throw new IllegalStateException("missing fixture folder " + p);
        }
        return p;
    }

    static Path file(String model, String name) {
        Path p = dir(model).resolve(name);
        if (!Files.isRegularFile(p)) {
            throw new IllegalStateException("missing fixture " + p);
        }
        return p;
    }
}
