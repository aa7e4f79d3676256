package ai.kestrel.model.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.kestrel.model.tokenizer.ChatTemplate.Message;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ChatTemplateTest {
    static String falconTemplate() throws IOException {
        try (InputStream in = ChatTemplateTest.class.getResourceAsStream("falcon-h1-instruct.jinja")) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    @Test
    void falconH1InstructRendersExactly() throws IOException {
        ChatTemplate t = new ChatTemplate(falconTemplate(), "<|begin_of_text|>", "<|end_of_text|>");
        // the SFT rendering of REFERENCE.md §1e
        assertEquals("<|begin_of_text|><|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\nIt is 4.<|im_end|>\n",
                t.render(List.of(new Message("user", "What is 2+2?"), new Message("assistant", "It is 4.")), false));
        assertEquals("<|begin_of_text|><|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi?<|im_end|>\n<|im_start|>assistant\n",
                t.render(List.of(new Message("system", "Be brief."), new Message("user", "Hi?")), true));
        assertEquals("<|begin_of_text|><|im_start|>user\nmulti\nline<|im_end|>\n<|im_start|>assistant\n",
                t.render(List.of(new Message("user", "multi\nline")), true));
    }

    @Test
    void readsTokenizerConfigAndRaisesTemplateErrors(@TempDir Path dir) throws IOException {
        Path cfg = dir.resolve("tokenizer_config.json");
        String escaped = new com.google.gson.Gson().toJson(falconTemplate());
        Files.writeString(cfg, "{\"bos_token\": {\"content\": \"<|begin_of_text|>\"}, \"eos_token\": \"<|end_of_text|>\", \"chat_template\": " + escaped + "}");
        ChatTemplate t = ChatTemplate.fromTokenizerConfig(cfg);
        assertTrue(t.render(List.of(new Message("user", "x")), true).startsWith("<|begin_of_text|><|im_start|>user\nx"));
        Files.writeString(cfg, "{\"bos_token\": \"<s>\"}");
        assertNull(ChatTemplate.fromTokenizerConfig(cfg));
        ChatTemplate bad = new ChatTemplate("{% if messages|length > 1 %}{{ raise_exception('only one message') }}{% endif %}ok", "", "");
        assertEquals("ok", bad.render(List.of(new Message("user", "a")), false));
        var e = assertThrows(TokenizerException.class, () -> bad.render(List.of(new Message("user", "a"), new Message("user", "b")), false));
        assertEquals("chat template: only one message (line 1)", e.getMessage());
    }
}
