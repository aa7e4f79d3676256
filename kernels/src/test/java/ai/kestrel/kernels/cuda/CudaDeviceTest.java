package ai.kestrel.kernels.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.kestrel.kernels.Buf;
import java.lang.foreign.Arena;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** The device itself: copies, views, the caching allocator. */
@RequiresCuda
class CudaDeviceTest {
    @Test
    void describesTheDevice() {
        Cuda c = Cuda.get();
        System.out.println("[cuda] " + c.describe());
        assertTrue(c.computeCapability() >= 80, c.describe());
        assertTrue(c.totalMemory() > 1L << 30, c.describe());
    }

    @Test
    void copiesRoundTripAndViewsOffset() {
        Cuda c = Cuda.get();
        SplittableRandom rnd = new SplittableRandom(7);
        float[] v = new float[100_003];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) rnd.nextGaussian();
        }
        try (Arena a = Arena.ofConfined(); DevBuf d = c.alloc(v.length * 4L)) {
            Buf host = Buf.ofF32(a, v);
            c.upload(host.seg(), d);
            Buf back = Buf.allocF32(a, v.length);
            c.download(d, back.seg());
            assertArrayEquals(v, back.toFloatArray());
            // a view starts at its offset: scale elements [1000, 2000) in place through it
            DevBuf view = d.view(4000, 4000);
            ElementwiseCuda.scale(c, view, 2f, view, 1000);
            c.download(d, back.seg());
            float[] got = back.toFloatArray();
            for (int i = 0; i < v.length; i++) {
                float want = i >= 1000 && i < 2000 ? 2 * v[i] : v[i];
                assertEquals(want, got[i], 0f, "element " + i);
            }
            assertThrows(IndexOutOfBoundsException.class, () -> d.view(0, v.length * 4L + 4));
        }
    }

    @Test
    void allocatorReusesFreedBlocks() {
        Cuda c = Cuda.get();
        long live = c.liveBytes();
        DevBuf a = c.alloc(3000);
        assertEquals(live + 4096, c.liveBytes(), "3000 bytes take a 4 KiB size class");
        a.close();
        assertEquals(live, c.liveBytes());
        long cached = c.cachedBytes();
        DevBuf b = c.alloc(4000);
        assertEquals(cached - 4096, c.cachedBytes(), "the freed 4 KiB block is reused");
        b.close();
        assertThrows(IllegalStateException.class, b::close);
    }
}
