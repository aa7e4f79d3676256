/**
 * Tensor files: safetensors (single and sharded, read and write) and GGUF (read and write).
 *
 * <p>Readers memory-map the file into a {@link ai.kestrel.engine.Scope} the caller passes and hand out
 * tensors that wrap the mapped bytes: nothing is copied onto the Java heap, and quantized tensors stay
 * quantized. Every malformed or hostile file ends in a {@link ai.kestrel.engine.io.TensorFileException} that
 * names the file and the fault; no lying header can cause an out-of-bounds read, an {@code OutOfMemoryError}
 * or a hang. Writers write to a temporary file in the target directory and rename it into place.
 */
package ai.kestrel.engine.io;
