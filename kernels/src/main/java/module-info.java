/**
 * Kestrel kernels: raw compute on flat buffers with explicit dimensions.
 *
 * <p>One package per op family. Each family has an interface holding the one documented signature, a plain
 * {@code *Ref} (scalar loops, the specification, works in float and double) and a Vector API {@code *Cpu}
 * (float32). This module knows nothing of tensors, autograd or models.
 */
module ai.kestrel.kernels {
    requires transitive jdk.incubator.vector;
    requires jcuda;

    exports ai.kestrel.kernels;
    exports ai.kestrel.kernels.attention;
    exports ai.kestrel.kernels.conv;
    exports ai.kestrel.kernels.cuda;
    exports ai.kestrel.kernels.elementwise;
    exports ai.kestrel.kernels.embedding;
    exports ai.kestrel.kernels.loss;
    exports ai.kestrel.kernels.matmul;
    exports ai.kestrel.kernels.norm;
    exports ai.kestrel.kernels.optim;
    exports ai.kestrel.kernels.quant;
    exports ai.kestrel.kernels.rope;
    exports ai.kestrel.kernels.scan;
    exports ai.kestrel.kernels.softmax;
    exports ai.kestrel.kernels.ssd;
}
