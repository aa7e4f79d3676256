package ai.kestrel.model.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.kestrel.engine.Scope;
import ai.kestrel.engine.io.Gguf;
import ai.kestrel.model.testing.Fixture;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TokenizerTest {
    @Test
    void everyFixtureCaseFromTokenizerJson() throws IOException {
        int cases = 0;
        for (String m : Fixture.MODELS) {
            Fixture f = Fixture.of(m);
            Tokenizer t = Tokenizer.fromJson(f.file("tokenizer.json"));
            for (Fixture.Case c : f.tokenization()) {
                assertArrayEquals(c.ids(), t.encode(c.text()), m + " " + show(c.text()) + " got " + Arrays.toString(t.encode(c.text())));
                assertEquals(c.text(), t.decode(c.ids()), m + " decode " + show(c.text()));
                cases++;
            }
        }
        assertTrue(cases >= 60, "cases: " + cases);
    }

    @Test
    void everyFixtureCaseFromGgufMetadata() throws IOException {
        try (Scope s = Scope.open()) {
            for (String m : Fixture.MODELS) {
                Fixture f = Fixture.of(m);
                for (String file : new String[] {"model-f32.gguf", "model-q8_0.gguf"}) {
                    Gguf g = Gguf.open(f.file(file), s);
                    Tokenizer t = Tokenizer.fromGguf(g.metadata(), file);
                    for (Fixture.Case c : f.tokenization()) {
                        assertArrayEquals(c.ids(), t.encode(c.text()), m + "/" + file + " " + show(c.text()) + " got " + Arrays.toString(t.encode(c.text())));
                        assertEquals(c.text(), t.decode(c.ids()), m + "/" + file + " decode " + show(c.text()));
                    }
                }
            }
        }
    }

    @Test
    void streamingDecodeHoldsSplitCharactersBack() throws IOException {
        Tokenizer t = Tokenizer.fromJson(Fixture.of("falcon-h1-g1").file("tokenizer.json"));
        String text = "héllo 👋 世界 done";
        int[] ids = t.encode(text);
        StreamDecoder d = t.streamDecoder();
        StringBuilder sb = new StringBuilder();
        boolean heldBack = false;
        for (int id : ids) {
            String piece = d.next(id);
            for (int i = 0; i < piece.length(); i++) {
                assertTrue(piece.charAt(i) != '\uFFFD', "no replacement character while streaming valid text");
            }
            heldBack |= piece.isEmpty();
            sb.append(piece);
        }
        sb.append(d.finish());
        assertEquals(text, sb.toString());
        assertTrue(heldBack, "some byte tokens complete no character on their own");
        assertEquals(t.decode(ids), sb.toString());
    }

    @Test
    void invalidUtf8NeverThrows() throws IOException {
        Tokenizer t = Tokenizer.fromJson(Fixture.of("falcon-h1-g1").file("tokenizer.json"));
        int lead = t.id(String.valueOf(ByteLevel.charOf(0xE4))).orElseThrow(); // a 3-byte lead byte alone
        int cont = t.id(String.valueOf(ByteLevel.charOf(0x80))).orElseThrow(); // a stray continuation byte
        int a = t.encode("a")[0];
        assertEquals("\uFFFDa\uFFFD", t.decode(new int[] {lead, a, cont}));
        StreamDecoder d = t.streamDecoder();
        String s = d.next(lead) + d.next(a) + d.next(cont) + d.next(lead) + d.finish();
        assertEquals("\uFFFDa\uFFFD\uFFFD", s);
        assertEquals("", t.decode(new int[] {999_999, -5}), "ids the tokenizer does not know decode to nothing");
    }

    @Test
    void unsupportedPartsAreNamed(@TempDir Path dir) throws IOException {
        String json = Files.readString(Fixture.of("falcon-h1-g1").file("tokenizer.json"));
        Path p = dir.resolve("tokenizer.json");
        Files.writeString(p, json.replace("\"normalizer\": null", "\"normalizer\": {\"type\": \"NFKC\"}"));
        var e = assertThrows(TokenizerException.class, () -> Tokenizer.fromJson(p));
        assertTrue(e.getMessage().endsWith("tokenizer.json: normalizer type 'NFKC' is not supported (byte-level BPE tokenizers have none)"), e.getMessage());
        Files.writeString(p, json.replace("\"type\": \"Split\"", "\"type\": \"Metaspace\""));
        var e2 = assertThrows(TokenizerException.class, () -> Tokenizer.fromJson(p));
        assertTrue(e2.getMessage().contains("pre_tokenizer.pretokenizers[0] type 'Metaspace' is not supported"), e2.getMessage());
        Files.write(p, new byte[] {'{', (byte) 0xff, '}'});
        assertThrows(TokenizerException.class, () -> Tokenizer.fromJson(p));
    }

    static String show(String s) {
        return "'" + s.replace("\n", "\\n") + "'";
    }
}
