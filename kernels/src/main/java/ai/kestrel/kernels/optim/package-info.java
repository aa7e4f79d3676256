/** Optimizer steps and gradient-norm reductions on flat parameter buffers. */
package ai.kestrel.kernels.optim;
