package ai.kestrel.model;

import java.util.List;

/** The model families Kestrel runs, by their Hugging Face {@code model_type}. */
public final class Models {
    /** Hugging Face {@code model_type} values Kestrel knows. */
    public static final List<String> MODEL_TYPES = List.of("falcon_h1", "falcon_mamba");

    private Models() {
    }
}
