package ai.kestrel.kernels;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** {@link Half}'s runs of binary16 values against the scalar conversions, value by value and bit by bit. */
class HalfTest {
    /** Gaussians of several magnitudes, binary16 subnormals, values past its range, ties, zeros, infinities, NaNs. */
    private static float value(SplittableRandom rnd) {
        float sign = rnd.nextBoolean() ? 1f : -1f;
        return switch (rnd.nextInt(7)) {
            case 0 -> sign * (float) (rnd.nextDouble(0, 3) * Math.pow(2, -24 + rnd.nextInt(12)));
            case 1 -> sign * (65504f + rnd.nextInt(-40, 40));
            case 2 -> sign * (1 + (2 * rnd.nextInt(1024) + 1) / 2048f) * (float) Math.pow(2, rnd.nextInt(-14, 16));
            case 3 -> switch (rnd.nextInt(3)) {
                case 0 -> sign * 0f;
                case 1 -> sign * Float.POSITIVE_INFINITY;
                default -> Float.NaN;
            };
            case 4 -> sign * (float) Math.pow(10, rnd.nextDouble(-9, 7));
            default -> (float) Twin.gaussian(rnd) * 2;
        };
    }

    @Test
    void narrowAndWidenConvertEveryValueAsTheScalarMethodsDo() {
        SplittableRandom rnd = new SplittableRandom(23);
        try (Arena arena = Arena.ofConfined()) {
            // enough calls for C2 to compile (and vectorise) the loops, on lengths around the vector and chunk sizes
            int[] lengths = {1, 7, 33, 1023, 1024, 1025, 4097};
            for (int rep = 0; rep < 300; rep++) {
                int n = rep < lengths.length ? lengths[rep] : 1 + rnd.nextInt(rep % 50 == 0 ? 5000 : 200);
                int s = rnd.nextInt(4);
                int d = rnd.nextInt(4);
                MemorySegment f32 = arena.allocate(4L * (n + 4), 64);
                MemorySegment f16 = arena.allocate(2L * (n + 4), 64);
                float[] x = new float[n];
                for (int i = 0; i < n; i++) {
                    x[i] = value(rnd);
                    f32.setAtIndex(Buf.F32, s + i, x[i]);
                }
                Half.narrow(f32, s, f16, d, n);
                MemorySegment back = arena.allocate(4L * (n + 4), 64);
                Half.widen(f16, d, back, s, n);
                float[] arr = new float[n + 3];
                Half.widen(f16, d, arr, 3, n);
                for (int i = 0; i < n; i++) {
                    short h = Float.floatToFloat16(x[i]);
                    String at = "rep " + rep + ", n " + n + ", element " + i + " (" + x[i] + ")";
                    assertEquals(h, f16.getAtIndex(Buf.F16, d + i), at + ": narrowed bits");
                    int expect = Float.floatToRawIntBits(Float.float16ToFloat(h));
                    assertEquals(expect, Float.floatToRawIntBits(back.getAtIndex(Buf.F32, s + i)), at + ": widened into a segment");
                    assertEquals(expect, Float.floatToRawIntBits(arr[3 + i]), at + ": widened into an array");
                }
                assertEquals(0, f16.getAtIndex(Buf.F16, d + n), "rep " + rep + ": nothing written past the end");
            }
        }
    }

    @Test
    void aHalfBufferReadsAndWritesThroughTheScalarConversions() {
        try (Arena arena = Arena.ofConfined()) {
            Buf b = Buf.f16(arena.allocate(8, 64));
            assertEquals(4, b.length());
            b.set(1, 1.0 / 3);
            assertEquals(Float.float16ToFloat(Float.floatToFloat16(1f / 3)), b.get(1));
            b.set(2, 70000);
            assertEquals(Double.POSITIVE_INFINITY, b.get(2));
            var e = assertThrows(IllegalArgumentException.class, () -> b.requireF32("k", 4));
            assertEquals("k: the fast kernel takes float32, got float16", e.getMessage());
            assertEquals(2, b.slice(2, 2).length());
            assertEquals(Double.POSITIVE_INFINITY, b.slice(2, 2).get(0));
        }
    }
}
