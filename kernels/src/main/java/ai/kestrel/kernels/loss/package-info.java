/** Cross-entropy over the vocabulary with a fused log-softmax. */
package ai.kestrel.kernels.loss;
