package ai.kestrel.engine;

/**
 * How an op turns the gradient of its output into gradients of its inputs. Written next to the op's
 * forward (see {@code ai.kestrel.engine.ops}).
 */
@FunctionalInterface
public interface Backward {
    /**
     * @param gradOut the gradient of the loss with respect to the op's output (same shape)
     * @param needs   {@code needs[i]} is true when input {@code i} wants a gradient; skip the others
     * @return one gradient per input, shaped like it ({@code null} where not needed)
     */
    Tensor[] apply(Tensor gradOut, boolean[] needs);
}
