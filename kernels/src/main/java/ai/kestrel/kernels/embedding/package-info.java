/** Embedding gather from a table in any weight format, and its scatter-add backward. */
package ai.kestrel.kernels.embedding;
