/** Rotary position embeddings, NeoX style (rotate_half), as Falcon-H1 uses them. */
package ai.kestrel.kernels.rope;
