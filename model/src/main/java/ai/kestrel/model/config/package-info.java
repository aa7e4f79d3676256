/**
 * Typed, immutable model configurations read from Hugging Face {@code config.json}: Falcon-H1 and
 * Falcon-Mamba. Built only through {@code fromJson}, which rejects a missing or mistyped field by file and
 * name and tolerates keys Kestrel does not use.
 */
package ai.kestrel.model.config;
