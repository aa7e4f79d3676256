/** Softmax over the last dimension, forward and backward. */
package ai.kestrel.kernels.softmax;
