package ai.kestrel.model.tokenizer;

/**
 * A token matched in raw text before pre-tokenization (HF {@code added_tokens}; GGUF CONTROL and USER_DEFINED
 * tokens). {@code lstrip}/{@code rstrip} let it swallow whitespace on that side; {@code singleWord} matches it
 * only between non-word characters.
 */
record AddedToken(int id, String content, boolean special, boolean lstrip, boolean rstrip, boolean singleWord) {
}
