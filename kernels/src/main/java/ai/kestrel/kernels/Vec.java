package ai.kestrel.kernels;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * The one float vector species every {@code *Cpu} kernel uses.
 *
 * <p>Chosen once, at class initialisation, from the system property {@code kestrel.vector.bits}
 * (128, 256 or 512; default: the platform's preferred width), so tests can force each width on one host.
 * Idiom: {@code for (; i < F.loopBound(n); i += F.length())} over vectors, then the scalar tail.
 */
public final class Vec {
    /** The property that selects the vector width in bits. */
    public static final String WIDTH_PROPERTY = "kestrel.vector.bits";

    /** The float species of the configured width. */
    public static final VectorSpecies<Float> F = species(System.getProperty(WIDTH_PROPERTY));

    /** Lanes of {@link #F}. */
    public static final int LANES = F.length();

    private Vec() {
    }

    static VectorSpecies<Float> species(String bits) {
        if (bits == null || bits.isBlank()) {
            return FloatVector.SPECIES_PREFERRED;
        }
        return switch (bits.trim()) {
            case "128" -> FloatVector.SPECIES_128;
            case "256" -> FloatVector.SPECIES_256;
            case "512" -> FloatVector.SPECIES_512;
            default -> throw new IllegalArgumentException(WIDTH_PROPERTY + " must be 128, 256 or 512, got '" + bits + "'");
        };
    }
}
