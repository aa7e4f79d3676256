package ai.kestrel.train.cli;

import ai.kestrel.model.LoadedModel;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code ./kestrel tokenize}: the model's tokenizer on a text, special tokens recognised, nothing prepended. */
@Command(name = "tokenize", mixinStandardHelpOptions = true,
        description = "Tokenize a text with the model's tokenizer (special tokens in the text are recognised, nothing is prepended); prints {\"ids\": [...]}.")
final class TokenizeCommand implements Callable<Integer> {
    @Mixin
    ModelOptions model;

    @Option(names = "--text", required = true, description = "The text.")
    String text;

    @Override
    public Integer call() throws Exception {
        try (LoadedModel m = model.load()) {
            System.out.println(Json.GSON.toJson(Map.of("ids", m.requireTokenizer().encode(text))));
        }
        return 0;
    }
}
