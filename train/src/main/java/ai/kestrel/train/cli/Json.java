package ai.kestrel.train.cli;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;

/** The command line's JSON output: compact, no HTML escaping, NaN/infinity written rather than refused. */
final class Json {
    static final Gson GSON = new GsonBuilder().disableHtmlEscaping().serializeSpecialFloatingPointValues().create();

    /** Like {@link #GSON}, writing null fields (answers that were not found) as {@code null}. */
    static final Gson NULLS = GSON.newBuilder().serializeNulls().create();

    private Json() {
    }

    /** Parses "1,2,3" (spaces allowed) into ids; a bad entry is a one-line error naming it. */
    static int[] ids(String csv) {
        String[] parts = csv.trim().split("\\s*,\\s*");
        int[] out = new int[parts.length];
        for (int i = 0; i < parts.length; i++) {
            try {
                out[i] = Integer.parseInt(parts[i]);
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("--tokens: '" + parts[i] + "' is not a token id");
            }
        }
        return out;
    }
}
