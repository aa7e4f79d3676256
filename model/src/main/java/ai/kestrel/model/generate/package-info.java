/**
 * Generation: a prompt through the model once (chunked scans), then one token at a time from the cached
 * state; greedy and sampled decoding; stopping on end-of-text, stop strings and a token limit; a
 * repetition-loop detector; streaming text.
 */
package ai.kestrel.model.generate;
