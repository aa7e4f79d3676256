package ai.kestrel.train.cli;

import ai.kestrel.model.LoadedModel;
import ai.kestrel.model.generate.Generator;
import ai.kestrel.model.tokenizer.ChatTemplate;
import ai.kestrel.model.tokenizer.Tokenizer;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code ./kestrel generate}: prefill, then one-token decode steps, streamed. */
@Command(name = "generate", mixinStandardHelpOptions = true,
        description = "Generate text: the prompt in one pass, then one token at a time from the cached state, streamed.")
final class GenerateCommand implements Callable<Integer> {
    @Mixin
    ModelOptions model;

    @Mixin
    SamplingOptions sampling;

    static final class Input {
        @Option(names = "--prompt", required = true, description = "The prompt text.")
        String prompt;

        @Option(names = "--tokens", required = true, paramLabel = "IDS", description = "The prompt as comma-separated token ids.")
        String tokens;
    }

    @ArgGroup(exclusive = true, multiplicity = "1")
    Input input;

    @Option(names = "--chat", description = "Wrap the prompt as a user turn in the model's chat template.")
    boolean chat;

    @Option(names = "--json", description = "Print {\"ids\": [generated ids], \"text\": \"...\"} at the end instead of streaming.")
    boolean json;

    @Override
    public Integer call() throws Exception {
        try (LoadedModel m = model.load()) {
            int[] prompt;
            if (input.tokens != null) {
                prompt = Json.ids(input.tokens);
            } else {
                Tokenizer tok = m.requireTokenizer();
                if (chat) {
                    ChatTemplate t = m.chatTemplate();
                    if (t == null) {
                        throw new IllegalArgumentException(m.path() + ": the model has no chat template (tokenizer_config.json or GGUF tokenizer.chat_template)");
                    }
                    prompt = tok.encode(t.render(List.of(new ChatTemplate.Message("user", input.prompt)), true));
                } else {
                    prompt = withBos(m, tok.encode(input.prompt));
                }
            }
            for (int id : prompt) {
                if (id < 0 || id >= m.model().vocabSize()) {
                    throw new IllegalArgumentException("prompt id " + id + " is outside the model's vocabulary [0, " + m.model().vocabSize() + ")");
                }
            }
            Tokenizer tok = m.requireTokenizer();
            PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
            Generator.Result r = Generator.generate(m.model(), tok, prompt, sampling.options(m.eosIds()), json ? null : piece -> {
                out.print(piece);
                out.flush();
            });
            if (json) {
                Map<String, Object> o = new LinkedHashMap<>();
                o.put("ids", r.ids());
                o.put("text", r.text());
                out.println(Json.GSON.toJson(o));
            } else {
                out.println();
            }
            System.err.printf(Locale.ROOT, "[%d prompt tokens at %.1f tok/s, %d generated at %.1f tok/s, stop: %s%s]%n", r.promptTokens(),
                    r.prefillTokensPerSecond(), r.ids().length, r.decodeTokensPerSecond(), r.reason(), r.loopDetected() ? ", repetition loop" : "");
        }
        return 0;
    }

    /** GGUF models that ask for it ({@code add_bos_token}) get the BOS id in front, as llama.cpp does. */
    static int[] withBos(LoadedModel m, int[] ids) {
        if (!m.addBos() || m.bosId() < 0 || (ids.length > 0 && ids[0] == m.bosId())) {
            return ids;
        }
        int[] out = new int[ids.length + 1];
        out[0] = m.bosId();
        System.arraycopy(ids, 0, out, 1, ids.length);
        return out;
    }
}
