package ai.kestrel.kernels.elementwise;

/**
 * How the second operand {@code b} of a binary kernel lines up with {@code a (R, C)}.
 * The engine reduces every broadcast it supports to one of these.
 */
public enum Broadcast {
    /** {@code b (R, C)}: same shape. */
    NONE,
    /** {@code b (1, C)}: one row repeated down the rows. */
    ROW,
    /** {@code b (R, 1)}: one value per row. */
    COLUMN,
    /** {@code b (1)}: one value. */
    SCALAR;

    /** Elements {@code b} must hold for an {@code (R, C)} operation. */
    public long bLength(long rows, long cols) {
        return switch (this) {
            case NONE -> rows * cols;
            case ROW -> cols;
            case COLUMN -> rows;
            case SCALAR -> 1;
        };
    }
}
