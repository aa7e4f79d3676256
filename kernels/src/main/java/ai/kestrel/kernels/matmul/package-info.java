/**
 * Matrix products against weight matrices in their stored format: {@code y = x·Wᵀ + b} and the two products
 * backward needs ({@code dX = dY·W}, {@code dW += dYᵀ·X}). Weights are dequantized inside the kernels, a
 * panel at a time, never materialised whole.
 */
package ai.kestrel.kernels.matmul;
