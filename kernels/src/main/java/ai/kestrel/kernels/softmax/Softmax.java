package ai.kestrel.kernels.softmax;

import ai.kestrel.kernels.Buf;

/**
 * Softmax over the last dimension, max-subtracted: {@code y = exp(x - max) / sum(exp(x - max))}.
 * Shapes: {@code x, y, dy, dx (rows, D)}.
 */
public interface Softmax {
    /** The reference: scalar loops in double; float32 and float64 buffers. */
    Softmax REF = new SoftmaxRef();
    /** Vector API, rows in parallel; float32 only. */
    Softmax CPU = new SoftmaxCpu();

    void forward(Buf x, Buf y, int rows, int d);

    /** {@code dx = y * (dy - sum(dy * y))} per row, from the forward output {@code y}. */
    void backward(Buf dy, Buf y, Buf dx, int rows, int d);
}
