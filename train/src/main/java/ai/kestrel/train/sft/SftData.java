package ai.kestrel.train.sft;

import ai.kestrel.model.tokenizer.ChatTemplate;
import ai.kestrel.model.tokenizer.Tokenizer;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import com.google.gson.JsonSyntaxException;
import java.io.IOException;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Training data for SFT, from a JSONL file (one object per line) or a JSON array. Each record is one of:
 * MetaMathQA ({@code query}, {@code response}), GSM8K ({@code question}, {@code answer}), a chat
 * ({@code messages}: [{@code role}, {@code content}], the last one the assistant's), or pre-tokenized
 * ({@code input_ids}, {@code labels} with -100 for positions without loss). Text records are rendered with the
 * model's chat template; the loss covers the final assistant turn only: the tokens of the rendered prompt (the
 * conversation before it, with the generation prompt) get label -100.
 */
public final class SftData {
    /** A record as read, before tokenization: messages, or ids and labels. */
    public record Item(List<ChatTemplate.Message> messages, int[] inputIds, int[] labels, String where) {
    }

    private SftData() {
    }

    /** Reads {@code file}; errors name the file, the line (or array index) and the field. */
    public static List<Item> read(Path file) throws IOException {
        List<Item> out = new ArrayList<>();
        for (Record r : records(file)) {
            out.add(item(r.json(), r.where()));
        }
        return out;
    }

    /** One JSON value of a data file and where it stands ({@code file:line} or {@code file [index]}). */
    public record Record(JsonElement json, String where) {
    }

    /**
     * The records of a JSONL file (blank lines skipped) or of a JSON array, read as strict UTF-8; a file that is
     * missing, not UTF-8, not JSON or empty is an error naming it (and the line).
     */
    public static List<Record> records(Path file) throws IOException {
        String text;
        try {
            text = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(java.nio.ByteBuffer.wrap(Files.readAllBytes(file))).toString();
        } catch (CharacterCodingException e) {
            throw new IOException(file + ": not valid UTF-8 (" + e.getMessage() + ")", e);
        } catch (java.nio.file.NoSuchFileException e) {
            throw new java.io.FileNotFoundException(file + ": no such file");
        }
        List<Record> out = new ArrayList<>();
        String trimmed = text.stripLeading();
        if (trimmed.startsWith("[")) {
            JsonArray a;
            try {
                a = JsonParser.parseString(text).getAsJsonArray();
            } catch (RuntimeException e) {
                throw new IOException(file + ": not a JSON array (" + e.getMessage() + ")", e);
            }
            for (int i = 0; i < a.size(); i++) {
                out.add(new Record(a.get(i), file + " [" + i + "]"));
            }
        } else {
            String[] lines = text.split("\n", -1);
            for (int i = 0; i < lines.length; i++) {
                String line = lines[i].strip();
                if (line.isEmpty()) {
                    continue;
                }
                try {
                    out.add(new Record(JsonParser.parseString(line), file + ":" + (i + 1)));
                } catch (JsonSyntaxException ex) {
                    throw new IOException(file + ":" + (i + 1) + ": not JSON (" + ex.getMessage() + ")", ex);
                }
            }
        }
        if (out.isEmpty()) {
            throw new IOException(file + ": no records");
        }
        return out;
    }

    private static Item item(JsonElement e, String where) {
        if (!e.isJsonObject()) {
            throw new IllegalArgumentException(where + ": a record must be a JSON object");
        }
        JsonObject o = e.getAsJsonObject();
        if (o.has("input_ids")) {
            int[] ids = ints(o, "input_ids", where);
            int[] labels = o.has("labels") ? ints(o, "labels", where) : ids.clone();
            if (labels.length != ids.length) {
                throw new IllegalArgumentException(where + ": 'labels' has " + labels.length + " entries, 'input_ids' " + ids.length);
            }
            return new Item(null, ids, labels, where);
        }
        if (o.has("messages")) {
            JsonElement m = o.get("messages");
            if (!m.isJsonArray() || m.getAsJsonArray().isEmpty()) {
                throw new IllegalArgumentException(where + ": 'messages' must be a non-empty array");
            }
            List<ChatTemplate.Message> msgs = new ArrayList<>();
            for (JsonElement x : m.getAsJsonArray()) {
                if (!x.isJsonObject()) {
                    throw new IllegalArgumentException(where + ": each message must be an object with 'role' and 'content'");
                }
                msgs.add(new ChatTemplate.Message(str(x.getAsJsonObject(), "role", where), str(x.getAsJsonObject(), "content", where)));
            }
            if (!msgs.get(msgs.size() - 1).role().equals("assistant")) {
                throw new IllegalArgumentException(where + ": the last message must be the assistant's (the one trained on)");
            }
            return new Item(msgs, null, null, where);
        }
        if (o.has("query") || o.has("response")) {
            return new Item(List.of(new ChatTemplate.Message("user", str(o, "query", where)),
                    new ChatTemplate.Message("assistant", str(o, "response", where))), null, null, where);
        }
        if (o.has("question") || o.has("answer")) {
            return new Item(List.of(new ChatTemplate.Message("user", str(o, "question", where)),
                    new ChatTemplate.Message("assistant", str(o, "answer", where))), null, null, where);
        }
        throw new IllegalArgumentException(where + ": not a known record: expected query/response (MetaMathQA), question/answer "
                + "(GSM8K), messages, or input_ids/labels");
    }

    /**
     * Tokenizes {@code item}: the prompt (everything before the last assistant turn, rendered with the
     * generation prompt, {@code bos} first when given) gets label -100, the rest is labelled with its own ids;
     * then truncated to {@code seqLen}. Returns {@code null} when no labelled token survives the truncation.
     */
    public static LoraTrainer.Example tokenize(Item item, Tokenizer tok, ChatTemplate template, int bos, int seqLen) {
        int[] ids;
        int[] labels;
        if (item.inputIds() != null) {
            ids = item.inputIds();
            labels = item.labels();
        } else {
            if (template == null) {
                throw new IllegalArgumentException(item.where() + ": the model has no chat template to render messages with "
                        + "(give one with --chat-template FILE)");
            }
            List<ChatTemplate.Message> msgs = item.messages();
            String prompt = template.render(msgs.subList(0, msgs.size() - 1), true);
            String full = template.render(msgs, false);
            if (!full.startsWith(prompt)) {
                throw new IllegalArgumentException(item.where() + ": the chat template renders the conversation without its prompt as a "
                        + "prefix; cannot tell the response's tokens apart");
            }
            int[] p = tok.encode(prompt);
            int[] r = tok.encode(full.substring(prompt.length()));
            int extra = bos >= 0 && (p.length == 0 || p[0] != bos) ? 1 : 0;
            ids = new int[extra + p.length + r.length];
            labels = new int[ids.length];
            if (extra == 1) {
                ids[0] = bos;
            }
            System.arraycopy(p, 0, ids, extra, p.length);
            System.arraycopy(r, 0, ids, extra + p.length, r.length);
            java.util.Arrays.fill(labels, 0, extra + p.length, -100);
            System.arraycopy(r, 0, labels, extra + p.length, r.length);
        }
        if (ids.length > seqLen) {
            ids = java.util.Arrays.copyOf(ids, seqLen);
            labels = java.util.Arrays.copyOf(labels, seqLen);
        }
        boolean any = false;
        for (int k = 1; k < labels.length; k++) {
            any |= labels[k] != -100;
        }
        return any && ids.length >= 2 ? new LoraTrainer.Example(ids, labels) : null;
    }

    private static String str(JsonObject o, String key, String where) {
        JsonElement e = o.get(key);
        if (e == null || !e.isJsonPrimitive() || !e.getAsJsonPrimitive().isString()) {
            throw new IllegalArgumentException(where + ": field '" + key + "' missing or not a string");
        }
        return e.getAsString();
    }

    private static int[] ints(JsonObject o, String key, String where) {
        JsonElement e = o.get(key);
        if (e == null || !e.isJsonArray()) {
            throw new IllegalArgumentException(where + ": field '" + key + "' must be an array of integers");
        }
        JsonArray a = e.getAsJsonArray();
        int[] out = new int[a.size()];
        for (int i = 0; i < out.length; i++) {
            JsonElement x = a.get(i);
            if (!x.isJsonPrimitive() || !x.getAsJsonPrimitive().isNumber()) {
                throw new IllegalArgumentException(where + ": '" + key + "'[" + i + "] is not an integer");
            }
            double d = x.getAsDouble();
            if (d != Math.rint(d) || d < Integer.MIN_VALUE || d > Integer.MAX_VALUE) {
                throw new IllegalArgumentException(where + ": '" + key + "'[" + i + "] = " + x + " is not an integer");
            }
            out[i] = (int) d;
        }
        return out;
    }
}
