package ai.kestrel.train.cli;

import ai.kestrel.model.generate.Generator;
import ai.kestrel.model.generate.Sampler;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import picocli.CommandLine.Option;

/** Decoding options shared by generate and chat. */
final class SamplingOptions {
    @Option(names = "--max-new-tokens", defaultValue = "256", description = "Token limit (default ${DEFAULT-VALUE}).")
    int maxNewTokens;

    @Option(names = "--greedy", description = "Always take the most likely token.")
    boolean greedy;

    @Option(names = "--temperature", defaultValue = "0.8", description = "Sampling temperature (default ${DEFAULT-VALUE}).")
    double temperature;

    @Option(names = "--top-k", defaultValue = "40", description = "Sample among the k most likely tokens; 0 for all (default ${DEFAULT-VALUE}).")
    int topK;

    @Option(names = "--top-p", defaultValue = "0.95", description = "Nucleus sampling mass (default ${DEFAULT-VALUE}).")
    double topP;

    @Option(names = "--seed", defaultValue = "0", description = "Sampling seed (default ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--stop", description = "Stop when this text appears (repeatable).")
    List<String> stop = new ArrayList<>();

    @Option(names = "--ignore-eos", description = "Do not stop at end-of-text ids.")
    boolean ignoreEos;

    @Option(names = "--on-loop", defaultValue = "STOP", description = "When the output repeats itself: STOP, REPORT or IGNORE (default ${DEFAULT-VALUE}).")
    Generator.LoopPolicy onLoop;

    Generator.Options options(Set<Integer> eos) {
        Sampler s = greedy || temperature == 0 ? Sampler.greedy() : Sampler.sampling(temperature, topK, topP, seed);
        return new Generator.Options(maxNewTokens, s, ignoreEos ? Set.of() : new HashSet<>(eos), stop, onLoop, 0);
    }
}
