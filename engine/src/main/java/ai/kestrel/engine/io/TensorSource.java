package ai.kestrel.engine.io;

import ai.kestrel.engine.Tensor;
import java.util.Set;

/**
 * Named tensors stored somewhere (a safetensors file, a sharded folder, a GGUF file), as the model loaders see
 * them: shapes in row-major order (the PyTorch order; GGUF's reversed dims are turned around), tensors in their
 * stored dtype.
 */
public interface TensorSource {
    /** Every tensor name, in a stable order. */
    Set<String> names();

    boolean has(String name);

    /** Row-major shape of {@code name}; an unknown name throws {@link IllegalArgumentException}. */
    long[] shape(String name);

    /** The stored type's name as the format spells it ({@code "BF16"}, {@code "Q8_0"}, ...). */
    String storedType(String name);

    /**
     * The tensor over the stored bytes, in its stored dtype (no copy, no conversion). Throws
     * {@link TensorFileException} for a dtype Kestrel does not load, {@link IllegalArgumentException} for an
     * unknown name.
     */
    Tensor tensor(String name) throws TensorFileException;

    /** Where the tensors come from, for messages. */
    String describe();
}
