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
        LoadedModel m = ModelLoader.load(model);
        if (adapter != null) {
            try {
                if (!(m.model() instanceof ai.kestrel.model.falconh1.FalconH1 h1)) {
                    throw new IllegalArgumentException("--adapter: LoRA adapters apply to Falcon-H1 models");
                }
                h1.setAdapter(ai.kestrel.model.lora.Lora.load(adapter, h1)); // lives as long as the process
            } catch (IOException | RuntimeException e) {
                m.close();
                throw e;
            }
        }
        return m;
    }
}
