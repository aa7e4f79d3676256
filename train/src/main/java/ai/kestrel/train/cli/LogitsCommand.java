package ai.kestrel.train.cli;

import ai.kestrel.engine.Autograd;
import ai.kestrel.engine.Scope;
import ai.kestrel.engine.Tensor;
import ai.kestrel.model.LoadedModel;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code ./kestrel logits}: one forward pass over token ids, the logits of every position as JSON. */
@Command(name = "logits", mixinStandardHelpOptions = true,
        description = "One forward pass over token ids; prints {\"logits\": [[...], ...]} (one row of vocab-size floats per position).")
final class LogitsCommand implements Callable<Integer> {
    @Mixin
    ModelOptions model;

    @Option(names = "--tokens", required = true, paramLabel = "IDS", description = "Comma-separated token ids.")
    String tokens;

    @Override
    public Integer call() throws Exception {
        int[] ids = Json.ids(tokens);
        try (LoadedModel m = model.load(); Scope s = Scope.open(); var ng = Autograd.noGrad()) {
            for (int id : ids) {
                if (id < 0 || id >= m.model().vocabSize()) {
                    throw new IllegalArgumentException("--tokens: id " + id + " is outside the model's vocabulary [0, " + m.model().vocabSize() + ")");
                }
            }
            Tensor out = m.model().forward(Tensor.ofInts(ids, 1, ids.length), null);
            int v = out.dim(2);
            float[] all = out.toFloatArray();
            float[][] rows = new float[ids.length][v];
            for (int i = 0; i < ids.length; i++) {
                System.arraycopy(all, i * v, rows[i], 0, v);
            }
            System.out.println(Json.GSON.toJson(Map.of("logits", rows)));
        }
        return 0;
    }
}
