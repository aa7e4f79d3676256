package ai.kestrel.model.tokenizer;

/** A tokenizer file or metadata that cannot be used; the message names the source and the field. */
public final class TokenizerException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public TokenizerException(String message) {
        super(message);
    }

    public TokenizerException(String message, Throwable cause) {
        super(message, cause);
    }
}
