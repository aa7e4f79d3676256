package ai.kestrel.train.cli;

import ai.kestrel.model.LoadedModel;
import ai.kestrel.model.generate.Generator;
import ai.kestrel.model.tokenizer.ChatTemplate;
import ai.kestrel.model.tokenizer.Tokenizer;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code ./kestrel chat}: an interactive conversation through the model's chat template. */
@Command(name = "chat", mixinStandardHelpOptions = true,
        description = "Chat with the model through its chat template. Type a message per line; /reset starts over, /exit (or end of input) quits.")
final class ChatCommand implements Callable<Integer> {
    @Mixin
    ModelOptions model;

    @Mixin
    SamplingOptions sampling;

    @Option(names = "--system", description = "A system message to start the conversation with.")
    String system;

    @Override
    public Integer call() throws Exception {
        try (LoadedModel m = model.load()) {
            Tokenizer tok = m.requireTokenizer();
            ChatTemplate template = m.chatTemplate();
            if (template == null) {
                throw new IllegalArgumentException(m.path() + ": the model has no chat template (tokenizer_config.json or GGUF tokenizer.chat_template)");
            }
            Set<Integer> stops = new HashSet<>(m.eosIds());
            tok.id("<|im_end|>").ifPresent(stops::add);
            PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
            BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
            List<ChatTemplate.Message> messages = new ArrayList<>();
            if (system != null) {
                messages.add(new ChatTemplate.Message("system", system));
            }
            out.println("Chatting with " + m.model().describe() + ". /reset starts over, /exit quits.");
            while (true) {
                out.print("> ");
                out.flush();
                String line = in.readLine();
                if (line == null || line.strip().equals("/exit")) {
                    break;
                }
                if (line.strip().equals("/reset")) {
                    messages.removeIf(x -> !x.role().equals("system"));
                    continue;
                }
                if (line.isBlank()) {
                    continue;
                }
                messages.add(new ChatTemplate.Message("user", line));
                int[] prompt = tok.encode(template.render(messages, true));
                Generator.Result r = Generator.generate(m.model(), tok, prompt, sampling.options(stops), piece -> {
                    out.print(piece);
                    out.flush();
                });
                out.println();
                messages.add(new ChatTemplate.Message("assistant", r.text()));
            }
        }
        return 0;
    }
}
