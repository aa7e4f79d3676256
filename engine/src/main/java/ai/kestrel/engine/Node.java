package ai.kestrel.engine;

/** One recorded op in the autograd graph: its inputs and how to get their gradients. */
record Node(String name, Backward backward, Tensor[] inputs) {
}
