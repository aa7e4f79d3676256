/**
 * The op set, one class per op family, each op's backward written next to its forward.
 *
 * <p>Every op takes and returns {@link ai.kestrel.engine.Tensor}s, allocates its result in the current
 * {@link ai.kestrel.engine.Scope}, and records itself with {@link ai.kestrel.engine.Autograd#record} when a
 * gradient is needed. F32 tensors run the Vector API kernels; F64 tensors run the reference kernels (used by
 * gradient checks). Operands of one op must share a dtype.
 */
package ai.kestrel.engine.ops;
