package ai.kestrel.kernels;

import ai.kestrel.kernels.optim.AdamW;
import ai.kestrel.kernels.scan.SelectiveScan;
import ai.kestrel.kernels.ssd.SsdScan;
import java.lang.foreign.Arena;
import java.util.SplittableRandom;

/**
 * Kernel results that must not depend on the JIT: sums across lanes, tasks and chunks in the Mamba-1 scan's and
 * the SSD scan's backward passes, attention (prompt forward and backward, a decoding step) and AdamW's sum of
 * squares, on seeded data. {@link DeterminismTest} computes them with 1, 2 and 3 threads, warm in its own JVM,
 * and cold in a child JVM run with {@code -Xint} ({@link #main} prints their bits); compare them bit for bit.
 */
final class DeterminismProbe {
    private DeterminismProbe() {
    }

    static float[] results() {
        try (Arena arena = Arena.ofShared()) { // shared: the pool's threads read it
            SplittableRandom rnd = new SplittableRandom(7);
            int b = 2;
            int t = 9;
            int din = 40;
            int n = 16;
            Buf x = Twin.randn(arena, rnd, b * t * din);
            Buf dt = Twin.randn(arena, rnd, b * t * din);
            Buf a = Buf.ofF32(arena, Twin.uniform(rnd, din * n, -1, -0.1));
            Buf bm = Twin.randn(arena, rnd, b * t * n);
            Buf cm = Twin.randn(arena, rnd, b * t * n);
            Buf dy = Twin.randn(arena, rnd, b * t * din);
            Buf dA = Buf.allocF32(arena, (long) din * n);
            Buf dB = Buf.allocF32(arena, (long) b * t * n);
            Buf dD = Buf.allocF32(arena, din);
            SelectiveScan.CPU.backward(dy, x, dt, null, a, bm, cm, null, null, null, null, null, dA, dB, null, dD, null, b, t, din, n);

            SsdScan.Dims m = new SsdScan.Dims(2, 20, 4, 8, 2, 8, 8);
            Buf sx = Twin.randn(arena, rnd, 2 * 20 * 4 * 8);
            Buf sdt = Twin.randn(arena, rnd, 2 * 20 * 4);
            Buf sa = Buf.ofF32(arena, -0.5f, -0.2f, -1f, -0.7f);
            Buf sb = Twin.randn(arena, rnd, 2 * 20 * 2 * 8);
            Buf sc = Twin.randn(arena, rnd, 2 * 20 * 2 * 8);
            Buf sdy = Twin.randn(arena, rnd, 2 * 20 * 4 * 8);
            Buf sdA = Buf.allocF32(arena, 4);
            Buf sdB = Buf.allocF32(arena, 2 * 20 * 2 * 8);
            SsdScan.CPU.backward(sdy, sx, sdt, null, sa, sb, sc, null, null, null, null, null, sdA, sdB, null, null, null, m);

            // attention forward and backward (prompt, grouped heads) and one decoding step against a longer cache
            ai.kestrel.kernels.attention.Attention.Dims ad = new ai.kestrel.kernels.attention.Attention.Dims(1, 24, 24, 24, 4, 2, 40);
            Buf q = Twin.randn(arena, rnd, 24 * 4 * 40);
            Buf k = Twin.randn(arena, rnd, 24 * 2 * 40);
            Buf v = Twin.randn(arena, rnd, 24 * 2 * 40);
            Buf o = Buf.allocF32(arena, 24 * 4 * 40);
            Buf lse = Buf.allocF32(arena, 4 * 24);
            ai.kestrel.kernels.attention.Attention.CPU.forward(q, k, v, o, lse, ad, 0.15);
            Buf dO = Twin.randn(arena, rnd, 24 * 4 * 40);
            Buf dq = Buf.allocF32(arena, 24 * 4 * 40);
            Buf dk = Buf.allocF32(arena, 24 * 2 * 40);
            Buf dv = Buf.allocF32(arena, 24 * 2 * 40);
            ai.kestrel.kernels.attention.Attention.CPU.backward(dO, q, k, v, o, lse, dq, dk, dv, ad, 0.15);
            Buf q1 = Twin.randn(arena, rnd, 4 * 40);
            Buf o1 = Buf.allocF32(arena, 4 * 40);
            ai.kestrel.kernels.attention.Attention.CPU.forward(q1, k, v, o1, null, new ai.kestrel.kernels.attention.Attention.Dims(1, 1, 24, 24, 4, 2, 40), 0.15);

            Buf g = Twin.randn(arena, rnd, 300_001); // several chunks for the pool's threads
            long squares = Double.doubleToRawLongBits(AdamW.CPU.sumSquares(g, 300_001));

            float[][] parts = {dA.toFloatArray(), dB.toFloatArray(), dD.toFloatArray(), sdA.toFloatArray(), sdB.toFloatArray(),
                o.toFloatArray(), lse.toFloatArray(), dq.toFloatArray(), dk.toFloatArray(), dv.toFloatArray(), o1.toFloatArray(),
                {Float.intBitsToFloat((int) (squares >>> 32)), Float.intBitsToFloat((int) squares)}}; // the double's bits
            int total = 0;
            for (float[] p : parts) {
                total += p.length;
            }
            float[] out = new float[total];
            int at = 0;
            for (float[] p : parts) {
                System.arraycopy(p, 0, out, at, p.length);
                at += p.length;
            }
            return out;
        }
    }

    /** Prints {@link #results()} as one hexadecimal float bit pattern per line. */
    public static void main(String[] args) {
        Parallel.setThreads(1);
        StringBuilder sb = new StringBuilder();
        for (float v : results()) {
            sb.append(Integer.toHexString(Float.floatToRawIntBits(v))).append('\n');
        }
        System.out.print(sb);
    }
}
