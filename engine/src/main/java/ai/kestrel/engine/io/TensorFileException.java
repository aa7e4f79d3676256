package ai.kestrel.engine.io;

import java.io.IOException;
import java.nio.file.Path;

/**
 * A tensor file that cannot be used: truncated, malformed, hostile or of an unsupported kind. The message
 * starts with the file name and says what is wrong, in one line.
 */
public final class TensorFileException extends IOException {
    private static final long serialVersionUID = 1L;

    public TensorFileException(Path file, String fault) {
        super(file.getFileName() + ": " + fault);
    }

    public TensorFileException(Path file, String fault, Throwable cause) {
        super(file.getFileName() + ": " + fault, cause);
    }
}
