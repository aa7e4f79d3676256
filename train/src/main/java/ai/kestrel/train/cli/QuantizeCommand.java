package ai.kestrel.train.cli;

import ai.kestrel.model.Quantizer;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code ./kestrel quantize}: a 4-bit (bitsandbytes NF4, double quantization) copy of a Hugging Face folder. */
@Command(name = "quantize", mixinStandardHelpOptions = true,
        description = "Write a 4-bit copy of a Falcon-H1 Hugging Face folder in bitsandbytes' NF4 layout (double quantization; "
                + "out_proj, embeddings and lm_head stay as they are), loadable by transformers and by Kestrel.")
final class QuantizeCommand implements Callable<Integer> {
    @Option(names = "--model", required = true, paramLabel = "DIR", description = "A Hugging Face model folder.")
    Path model;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "The new folder (must not exist or be empty).")
    Path out;

    @Override
    public Integer call() throws Exception {
        long t0 = System.nanoTime();
        Quantizer.Summary s = Quantizer.quantize(model, out);
        System.out.printf(Locale.ROOT, "quantized %d matrices to NF4, kept %d tensors: %.1f MB -> %.1f MB, in %.1f s; wrote %s%n",
                s.quantized(), s.kept(), s.bytesBefore() / 1e6, s.bytesAfter() / 1e6, (System.nanoTime() - t0) / 1e9, out.toAbsolutePath());
        return 0;
    }
}
