/**
 * Byte-level BPE tokenizers as Hugging Face's {@code tokenizers} and llama.cpp run them, read from
 * {@code tokenizer.json} or from GGUF metadata; streaming decoding; chat templates.
 */
package ai.kestrel.model.tokenizer;
