/**
 * Element-wise maps and the reductions their gradients need: add and multiply with row/column/scalar
 * broadcast, scale, axpy, SiLU, softplus, exp, and row/column sums.
 */
package ai.kestrel.kernels.elementwise;
