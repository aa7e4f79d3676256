package ai.kestrel.train.sft;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.kestrel.model.tokenizer.ChatTemplate;
import ai.kestrel.model.tokenizer.Tokenizer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SftDataTest {
    private static Path data(String f) {
        return Path.of(System.getProperty("kestrel.testdata"), "data", f);
    }

    private static final ChatTemplate TEMPLATE = new ChatTemplate(
            "{% for m in messages %}<|{{ m.role }}|>{{ m.content }}\n{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}",
            "<|begin_of_text|>", "<|end_of_text|>");

    @Test
    void readsTheRealDataSets() throws IOException {
        List<SftData.Item> mm = SftData.read(data("metamathqa_sample.jsonl"));
        assertTrue(mm.size() >= 1);
        assertEquals("user", mm.get(0).messages().get(0).role());
        assertTrue(mm.get(0).messages().get(0).content().startsWith("Gracie and Joe"));
        assertEquals("assistant", mm.get(0).messages().get(1).role());
        List<SftData.Item> gsm = SftData.read(data("gsm8k_test.jsonl"));
        assertEquals(1319, gsm.size());
        assertTrue(gsm.get(0).messages().get(1).content().contains("####"), "GSM8K answers end in #### n");
    }

    @Test
    void chatsPretokenizedAndArrays(@TempDir Path dir) throws IOException {
        Path f = dir.resolve("mix.jsonl");
        Files.writeString(f, "{\"messages\": [{\"role\": \"system\", \"content\": \"Be brief.\"}, {\"role\": \"user\", \"content\": \"2+2?\"},"
                + " {\"role\": \"assistant\", \"content\": \"4\"}]}\n\n{\"input_ids\": [5, 6, 7], \"labels\": [-100, 6, 7]}\n");
        List<SftData.Item> items = SftData.read(f);
        assertEquals(2, items.size());
        assertEquals(3, items.get(0).messages().size());
        assertArrayEquals(new int[] {-100, 6, 7}, items.get(1).labels());
        Path a = dir.resolve("arr.json");
        Files.writeString(a, "[{\"question\": \"q\", \"answer\": \"a #### 1\"}]");
        assertEquals("q", SftData.read(a).get(0).messages().get(0).content());
    }

    @Test
    void responseOnlyLabelsThroughTheTemplate() throws IOException {
        Tokenizer tok = Tokenizer.fromJson(Path.of(System.getProperty("kestrel.testdata"), "fixtures", "falcon-h1-g1", "tokenizer.json"));
        SftData.Item item = new SftData.Item(List.of(new ChatTemplate.Message("user", "What is 2+3?"),
                new ChatTemplate.Message("assistant", "It is 5.")), null, null, "test");
        LoraTrainer.Example e = SftData.tokenize(item, tok, TEMPLATE, 7, 512);
        assertEquals(7, e.inputIds()[0]); // bos first
        int[] prompt = tok.encode("<|user|>What is 2+3?\n<|assistant|>");
        for (int i = 0; i <= prompt.length; i++) {
            assertEquals(-100, e.labels()[i], "prompt position " + i);
        }
        int[] resp = Arrays.copyOfRange(e.labels(), 1 + prompt.length, e.labels().length);
        assertEquals("It is 5.\n", tok.decode(resp));
        assertArrayEquals(resp, Arrays.copyOfRange(e.inputIds(), 1 + prompt.length, e.inputIds().length));
        // truncated into the prompt: nothing left to learn, the example is dropped
        assertNull(SftData.tokenize(item, tok, TEMPLATE, 7, 3));
        LoraTrainer.Example cut = SftData.tokenize(item, tok, TEMPLATE, 7, prompt.length + 3);
        assertEquals(prompt.length + 3, cut.inputIds().length);
    }

    @Test
    void badInputIsNamedWithFileAndLine(@TempDir Path dir) throws IOException {
        Path f = dir.resolve("bad.jsonl");
        Files.writeString(f, "{\"query\": \"a\", \"response\": \"b\"}\n{\"query\": \"a\", \"response\": \n");
        IOException json = assertThrows(IOException.class, () -> SftData.read(f));
        assertTrue(json.getMessage().contains("bad.jsonl:2"), json.getMessage());
        Files.writeString(f, "{\"query\": \"a\"}\n");
        IllegalArgumentException missing = assertThrows(IllegalArgumentException.class, () -> SftData.read(f));
        assertTrue(missing.getMessage().contains(":1") && missing.getMessage().contains("'response'"), missing.getMessage());
        Files.writeString(f, "{\"input_ids\": [1, 2], \"labels\": [1]}\n");
        assertThrows(IllegalArgumentException.class, () -> SftData.read(f));
        Files.writeString(f, "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}\n");
        IllegalArgumentException last = assertThrows(IllegalArgumentException.class, () -> SftData.read(f));
        assertTrue(last.getMessage().contains("assistant"), last.getMessage());
        Files.write(f, new byte[] {'{', '"', 'q', (byte) 0xC3, '"', '}'});
        IOException utf = assertThrows(IOException.class, () -> SftData.read(f));
        assertTrue(utf.getMessage().contains("UTF-8"), utf.getMessage());
        Files.writeString(f, "{\"text\": \"x\"}\n");
        IllegalArgumentException unknown = assertThrows(IllegalArgumentException.class, () -> SftData.read(f));
        assertTrue(unknown.getMessage().contains("not a known record"), unknown.getMessage());
    }
}
