/** Optimizers over lists of parameter tensors, and gradient clipping. */
package ai.kestrel.engine.optim;
