/** Causal depthwise conv1d over channels-last sequences: forward, backward and the one-token step. */
package ai.kestrel.kernels.conv;
