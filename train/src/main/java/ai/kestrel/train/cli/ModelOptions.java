package ai.kestrel.train.cli;

import ai.kestrel.kernels.Parallel;
import ai.kestrel.model.LoadedModel;
import ai.kestrel.model.ModelLoader;
import java.io.IOException;
import java.nio.file.Path;
import picocli.CommandLine.Option;

/** The options every model command shares: where the model is, an adapter, how many threads. */
final class ModelOptions {
    @Option(names = "--model", required = true, paramLabel = "PATH", description = "A Hugging Face model folder or a .gguf file.")
    Path model;

    @Option(names = "--adapter", paramLabel = "DIR", description = "A PEFT LoRA adapter folder to apply.")
    Path adapter;

    @Option(names = "--threads", description = "Kernel threads (default: all cores).", defaultValue = "0")
    int threads;

    LoadedModel load() throws IOException {
        if (threads > 0) {
            Parallel.setThreads(threads);
        }
        if (adapter != null) {
            throw new IllegalArgumentException("--adapter: LoRA adapters are not supported yet (they arrive with QLoRA training)");
        }
        return ModelLoader.load(model);
    }
}
