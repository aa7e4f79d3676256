package ai.kestrel.train.cli;

import ai.kestrel.engine.DType;
import ai.kestrel.model.config.FalconH1Config;
import ai.kestrel.model.falconh1.FalconH1Init;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code ./kestrel init}: a random-weight model of a real Falcon-H1 configuration, for speed work. */
@Command(name = "init", mixinStandardHelpOptions = true,
        description = "Write a random-weight model of a real Falcon-H1 configuration (a Hugging Face folder, or GGUF when --out ends in .gguf).")
final class InitCommand implements Callable<Integer> {
    @Option(names = "--config", required = true, description = "One of: ${COMPLETION-CANDIDATES}.", completionCandidates = Presets.class)
    String config;

    @Option(names = "--out", required = true, paramLabel = "PATH", description = "A folder (Hugging Face layout) or a .gguf file.")
    Path out;

    @Option(names = "--dtype", defaultValue = "bf16", description = "Weight type: f32, bf16, f16 or q8_0 (q8_0 needs GGUF; default ${DEFAULT-VALUE}).")
    String dtype;

    @Option(names = "--seed", defaultValue = "0", description = "Seed of the random weights (default ${DEFAULT-VALUE}).")
    long seed;

    static final class Presets extends java.util.ArrayList<String> {
        private static final long serialVersionUID = 1L;

        Presets() {
            super(FalconH1Config.PRESETS);
        }
    }

    @Override
    public Integer call() throws Exception {
        DType t = switch (dtype.toLowerCase(Locale.ROOT)) {
            case "f32" -> DType.F32;
            case "bf16" -> DType.BF16;
            case "f16" -> DType.F16;
            case "q8_0" -> DType.Q8_0;
            default -> throw new IllegalArgumentException("--dtype: '" + dtype + "' is not one of f32, bf16, f16, q8_0");
        };
        if (Files.isDirectory(out) && !out.toString().endsWith(".gguf") && Files.list(out).findAny().isPresent()) {
            throw new IllegalArgumentException("--out: " + out + " is a folder that is not empty");
        }
        long t0 = System.nanoTime();
        FalconH1Init.write(config, out, t, seed);
        System.out.printf(Locale.ROOT, "wrote a random %s (%s, seed %d) to %s in %.1f s%n", config, t, seed, out.toAbsolutePath(),
                (System.nanoTime() - t0) / 1e9);
        return 0;
    }
}
