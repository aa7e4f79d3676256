package ai.kestrel.model;

import ai.kestrel.model.tokenizer.ChatTemplate;
import ai.kestrel.model.tokenizer.Tokenizer;
import java.nio.file.Path;
import java.util.Set;

/**
 * A model with what generation needs around it: its tokenizer, its chat template (or {@code null}), the ids
 * that end generation, and the BOS id with whether prompts get it (GGUF's {@code add_bos_token}).
 */
public record LoadedModel(Path path, LanguageModel model, Tokenizer tokenizer, ChatTemplate chatTemplate, Set<Integer> eosIds,
                          int bosId, boolean addBos) implements AutoCloseable {
    public LoadedModel {
        eosIds = Set.copyOf(eosIds);
    }

    /** The tokenizer, or an error saying the model came without one. */
    public Tokenizer requireTokenizer() {
        if (tokenizer == null) {
            throw new IllegalArgumentException(path + ": no tokenizer (tokenizer.json or GGUF tokenizer metadata) came with this model");
        }
        return tokenizer;
    }

    @Override
    public void close() {
        model.close();
    }
}
