/** Causal grouped-query attention with a streaming softmax: prefill, decode over a KV cache, backward. */
package ai.kestrel.kernels.attention;
