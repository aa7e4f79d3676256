/**
 * Kestrel engine: tensors, deterministic memory scopes, define-by-run autograd and the op set.
 *
 * <p>Exported: {@code ai.kestrel.engine} (Tensor, DType, Device, Scope, Autograd, GradCheck) and
 * {@code ai.kestrel.engine.ops} (the op families). Everything else is internal.
 */
module ai.kestrel.engine {
    requires transitive ai.kestrel.kernels;
    requires com.google.gson;

    exports ai.kestrel.engine;
    exports ai.kestrel.engine.io;
    exports ai.kestrel.engine.ops;
    exports ai.kestrel.engine.optim;
}
