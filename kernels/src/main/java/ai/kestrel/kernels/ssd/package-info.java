/**
 * Mamba-2's state-space duality (SSD) scan: the chunked algorithm for prompts and training, forward and
 * backward, and the one-token recurrence for generation.
 */
package ai.kestrel.kernels.ssd;
