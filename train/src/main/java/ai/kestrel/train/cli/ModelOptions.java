package ai.kestrel.train.cli;

import ai.kestrel.kernels.Parallel;
import ai.kestrel.model.LoadedModel;
import ai.kestrel.model.ModelLoader;
import java.io.IOException;
import java.nio.file.Path;
import picocli.CommandLine.Option;

/** The options every model command shares: where the model is, an adapter, threads, device, numerics and KV cache type. */
final class ModelOptions {
    @Option(names = "--model", required = true, paramLabel = "PATH", description = "A Hugging Face model folder or a .gguf file.")
    Path model;

    @Option(names = "--adapter", paramLabel = "DIR", description = "A PEFT LoRA adapter folder to apply.")
    Path adapter;

    @Option(names = "--threads", description = "Kernel threads (default: all cores).", defaultValue = "0")
    int threads;

    @Option(names = "--device", paramLabel = "auto|cpu|cuda", defaultValue = "cpu",
            description = "Where the model runs: cpu (default), cuda (an NVIDIA GPU; an error naming what is missing"
                    + " when there is none), or auto (cuda when usable, else cpu; says which on stderr).")
    String device;

    @Option(names = "--numerics", paramLabel = "auto|ggml|transformers", defaultValue = "auto",
            description = "Whose arithmetic the products reproduce: ggml (llama.cpp: activations rounded to an F16/BF16/"
                    + "Q8_0 weight's type first), transformers (float32 activations; Q8_0 still rounds), or auto (default:"
                    + " ggml for a .gguf file, transformers for a Hugging Face folder).")
    String numerics;

    @Option(names = "--kv-cache", paramLabel = "f32|f16", defaultValue = "f32",
            description = "The element type of the attention keys and values kept while generating: f32 (default) or f16"
                    + " (llama.cpp's default: half the memory and half the bytes each step reads; CPU only).")
    String kvCache;

    /** {@code --kv-cache} as a dtype. */
    ai.kestrel.engine.DType kvCache() {
        return switch (kvCache) {
            case "f32" -> ai.kestrel.engine.DType.F32;
            case "f16" -> ai.kestrel.engine.DType.F16;
            default -> throw new IllegalArgumentException("--kv-cache must be f32 or f16, got '" + kvCache + "'");
        };
    }

    /** {@code --numerics} as the model takes it; {@code null} for auto (the loader's choice). */
    ai.kestrel.engine.ops.Numerics numerics() {
        return switch (numerics) {
            case "auto" -> null;
            case "ggml" -> ai.kestrel.engine.ops.Numerics.GGML;
            case "transformers" -> ai.kestrel.engine.ops.Numerics.TRANSFORMERS;
            default -> throw new IllegalArgumentException("--numerics must be auto, ggml or transformers, got '" + numerics + "'");
        };
    }

    LoadedModel load() throws IOException {
        return load(true);
    }

    /** The device {@code --device} picks (said once on stderr for {@code auto}). */
    ai.kestrel.engine.Device device() {
        if (picked == null) {
            picked = pickDevice(device, adapter != null);
        }
        return picked;
    }

    private ai.kestrel.engine.Device picked;

    /** The model, on the CPU or (when {@code move}) on the device {@code --device} picks. */
    LoadedModel load(boolean move) throws IOException {
        if (threads > 0) {
            Parallel.setThreads(threads);
        }
        ai.kestrel.engine.Device dev = move ? device() : ai.kestrel.engine.Device.CPU;
        if (!move) {
            device(); // a bad --device fails before the model loads
        }
        ai.kestrel.engine.ops.Numerics num = numerics(); // and a bad --numerics
        ai.kestrel.engine.DType kv = kvCache(); // and a bad --kv-cache
        if (kv != ai.kestrel.engine.DType.F32 && dev == ai.kestrel.engine.Device.CUDA) {
            throw new IllegalArgumentException("--kv-cache " + kvCache + ": the GPU reads an f32 cache only so far; use --kv-cache f32 or --device cpu");
        }
        LoadedModel m = ModelLoader.load(model);
        if (num != null) {
            m.model().setNumerics(num);
        }
        m.model().setKvCacheType(kv);
        if (dev == ai.kestrel.engine.Device.CUDA) {
            ai.kestrel.model.LanguageModel onGpu = switch (m.model()) {
                case ai.kestrel.model.falconh1.FalconH1 h1 -> h1.to(dev);
                case ai.kestrel.model.falconmamba.FalconMamba fm -> fm.to(dev);
                default -> throw new IllegalArgumentException("--device cuda: " + m.model().describe() + " does not run on the GPU");
            };
            m.model().close();
            m = new LoadedModel(m.path(), onGpu, m.tokenizer(), m.chatTemplate(), m.eosIds(), m.bosId(), m.addBos());
        }
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

    /**
     * The device {@code --device} names: {@code cuda} throws naming what is missing when no GPU is usable;
     * {@code auto} says on stderr which it picked and why.
     */
    static ai.kestrel.engine.Device pickDevice(String option, boolean adapter) {
        String why = ai.kestrel.kernels.cuda.Cuda.unavailableReason();
        switch (option) {
            case "cpu":
                return ai.kestrel.engine.Device.CPU;
            case "cuda":
                if (why != null) {
                    throw new IllegalArgumentException("--device cuda: no CUDA device: " + why);
                }
                if (adapter) {
                    throw new IllegalArgumentException("--device cuda: LoRA adapters run on the CPU only so far; drop --adapter or use --device cpu");
                }
                return ai.kestrel.engine.Device.CUDA;
            case "auto":
                if (why == null && !adapter) {
                    System.err.println("device: cuda (" + ai.kestrel.kernels.cuda.Cuda.get().describe() + ")");
                    return ai.kestrel.engine.Device.CUDA;
                }
                System.err.println("device: cpu (" + (why != null ? "no CUDA device: " + why : "LoRA adapters run on the CPU only so far") + ")");
                return ai.kestrel.engine.Device.CPU;
            default:
                throw new IllegalArgumentException("--device must be auto, cpu or cuda, got '" + option + "'");
        }
    }
}
