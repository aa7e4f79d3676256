package ai.kestrel.bench;

import static ai.kestrel.kernels.Vec.F;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.TearDown;

/**
 * This machine's ceilings, measured in the same run as the kernels: peak float32 FMA throughput of one thread
 * (12 independent vector accumulators in registers), the DRAM bandwidth of one thread summing 256 MB (as one
 * stream, and as four), and of one thread scaling 256 MB in place (read and written back: the roofline of the
 * SSM state's update). With several JMH threads each has its own buffer (a shared one would let a thread read
 * what another has just brought into the cache).
 */
@State(Scope.Thread)
public class Ceilings extends BenchBase {
    static final int FMA_ITERS = 1 << 20;
    static final long STREAM_BYTES = 256L << 20;

    Arena arena;
    MemorySegment big;
    float[] seed = new float[64];

    @Setup
    public void setup() {
        arena = Arena.ofShared();
        big = arena.allocate(STREAM_BYTES, 64);
        for (int i = 0; i < seed.length; i++) {
            seed[i] = 1.0001f;
        }
    }

    @TearDown
    public void tearDown() {
        arena.close();
    }

    /** Work per call, for the report: {flops, bytes}. */
    static double[] work(String method, java.util.function.Function<String, String> param) {
        return switch (method) {
            case "peakFma" -> new double[] {2.0 * FMA_ITERS * 12 * F.length(), 0};
            case "streamSum", "streamSum4" -> new double[] {0, STREAM_BYTES};
            case "streamScale" -> new double[] {0, 2.0 * STREAM_BYTES};
            default -> new double[] {0, 0};
        };
    }

    @Benchmark
    public float peakFma() {
        return fmas(seed);
    }

    /** {@link #FMA_ITERS} steps of 12 independent vector FMAs ({@code seed}: at least two vectors of values). */
    static float fmas(float[] seed) {
        FloatVector m = FloatVector.fromArray(F, seed, 0);
        FloatVector a = FloatVector.fromArray(F, seed, F.length());
        FloatVector c0 = m, c1 = m, c2 = m, c3 = m, c4 = m, c5 = m, c6 = m, c7 = m, c8 = m, c9 = m, c10 = m, c11 = m;
        for (int i = 0; i < FMA_ITERS; i++) {
            c0 = c0.fma(m, a);
            c1 = c1.fma(m, a);
            c2 = c2.fma(m, a);
            c3 = c3.fma(m, a);
            c4 = c4.fma(m, a);
            c5 = c5.fma(m, a);
            c6 = c6.fma(m, a);
            c7 = c7.fma(m, a);
            c8 = c8.fma(m, a);
            c9 = c9.fma(m, a);
            c10 = c10.fma(m, a);
            c11 = c11.fma(m, a);
        }
        return c0.add(c1).add(c2).add(c3).add(c4).add(c5).add(c6).add(c7).add(c8).add(c9).add(c10).add(c11)
                .reduceLanes(VectorOperators.ADD);
    }

    @Benchmark
    public float streamSum() {
        return sum(big);
    }

    /** The sum of {@link #STREAM_BYTES} bytes of {@code big} as floats, read as one stream. */
    static float sum(MemorySegment big) {
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
        long step = F.length() * 4L;
        for (long i = 0; i < STREAM_BYTES; i += 4 * step) {
            a0 = a0.add(FloatVector.fromMemorySegment(F, big, i, ByteOrder.LITTLE_ENDIAN));
            a1 = a1.add(FloatVector.fromMemorySegment(F, big, i + step, ByteOrder.LITTLE_ENDIAN));
            a2 = a2.add(FloatVector.fromMemorySegment(F, big, i + 2 * step, ByteOrder.LITTLE_ENDIAN));
            a3 = a3.add(FloatVector.fromMemorySegment(F, big, i + 3 * step, ByteOrder.LITTLE_ENDIAN));
        }
        return a0.add(a1).add(a2).add(a3).reduceLanes(VectorOperators.ADD);
    }

    /**
     * {@link #streamSum} as four streams, one through each quarter of the buffer, the way the decode kernels read
     * four weight rows far apart: one stream per thread leaves the memory system idle part of the time on this
     * machine, and the kernels beat it.
     */
    @Benchmark
    public float streamSum4() {
        return sum4(big);
    }

    /** {@link #sum} read as four streams, one through each quarter of {@code big}. */
    static float sum4(MemorySegment big) {
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
        long step = F.length() * 4L;
        long q = STREAM_BYTES / 4;
        for (long i = 0; i < q; i += step) {
            a0 = a0.add(FloatVector.fromMemorySegment(F, big, i, ByteOrder.LITTLE_ENDIAN));
            a1 = a1.add(FloatVector.fromMemorySegment(F, big, q + i, ByteOrder.LITTLE_ENDIAN));
            a2 = a2.add(FloatVector.fromMemorySegment(F, big, 2 * q + i, ByteOrder.LITTLE_ENDIAN));
            a3 = a3.add(FloatVector.fromMemorySegment(F, big, 3 * q + i, ByteOrder.LITTLE_ENDIAN));
        }
        return a0.add(a1).add(a2).add(a3).reduceLanes(VectorOperators.ADD);
    }

    @Benchmark
    public void streamScale() {
        FloatVector k = FloatVector.broadcast(F, 0.9999f);
        long step = F.length() * 4L;
        for (long i = 0; i < STREAM_BYTES; i += 2 * step) {
            FloatVector.fromMemorySegment(F, big, i, ByteOrder.LITTLE_ENDIAN).mul(k)
                    .intoMemorySegment(big, i, ByteOrder.LITTLE_ENDIAN);
            FloatVector.fromMemorySegment(F, big, i + step, ByteOrder.LITTLE_ENDIAN).mul(k)
                    .intoMemorySegment(big, i + step, ByteOrder.LITTLE_ENDIAN);
        }
    }
}
