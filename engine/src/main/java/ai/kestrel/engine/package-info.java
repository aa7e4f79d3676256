/**
 * The tensor, its memory and autograd.
 *
 * <p>A {@link ai.kestrel.engine.Tensor} is shape, dtype, device and storage, nothing more: ops live in the
 * op-family classes of {@code ai.kestrel.engine.ops}. Memory is freed deterministically by
 * {@link ai.kestrel.engine.Scope}s (try-with-resources), not by the garbage collector. Autograd is
 * define-by-run: each differentiable op records how to get its inputs' gradients from its output's
 * ({@link ai.kestrel.engine.Autograd#record}), and {@link ai.kestrel.engine.Autograd#backward} walks that
 * graph from a scalar. Ops on {@link ai.kestrel.engine.DType#F64} tensors run the reference kernels in double,
 * which is what {@link ai.kestrel.engine.GradCheck} uses.
 */
package ai.kestrel.engine;
