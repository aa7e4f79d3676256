/**
 * Generation: a prompt through the model once (chunked scans), then one token at a time from the cached
 * state; greedy and sampled decoding; stopping on end-of-text, stop strings and a token limit; a
 * repetition-loop detector; streaming text; top-k log-probabilities per step; many sequences side by side
 * ({@link ai.kestrel.model.generate.BatchGenerator}, continuous batching with rows at different positions).
 */
package ai.kestrel.model.generate;
