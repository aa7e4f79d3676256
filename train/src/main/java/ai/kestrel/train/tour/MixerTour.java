package ai.kestrel.train.tour;

import ai.kestrel.kernels.Buf;
import ai.kestrel.kernels.attention.Attention;
import ai.kestrel.kernels.conv.CausalConv1d;
import ai.kestrel.kernels.scan.SelectiveScan;
import ai.kestrel.kernels.ssd.SsdScan;
import java.lang.foreign.Arena;
import java.util.List;

/**
 * The sequence mixers at Falcon-H1-1.5B-Deep shapes (T = 512): the Mamba-2 SSD scan (24 heads x 64, d_state
 * 256, chunk 128), its conv1d (2048 channels, window 4), attention (6 query / 2 KV heads of 128), and the
 * Mamba-1 scan at falcon-mamba-7b width (8192 channels, d_state 16, T = 128). References run one head (or a
 * slice) and are scaled.
 */
final class MixerTour implements TourSuite {
    @Override
    public List<TourCase> cases(Arena arena) {
        int t = 512;
        int h = 24;
        int p = 64;
        int n = 256;
        SsdScan.Dims dims = new SsdScan.Dims(1, t, h, p, 1, n, 128);
        SsdScan.Dims oneHead = new SsdScan.Dims(1, t, 1, p, 1, n, 128);
        Buf x = TourData.randn(arena, t * h * p, 1);
        Buf dt = TourData.randn(arena, t * h, 2);
        Buf a = Buf.ofF32(arena, new float[h]);
        a.fill(-0.5);
        Buf bm = TourData.randn(arena, t * n, 3);
        Buf cm = TourData.randn(arena, t * n, 4);
        Buf y = Buf.allocF32(arena, (long) t * h * p);
        Buf x1 = TourData.randn(arena, t * p, 5);
        Buf dt1 = TourData.randn(arena, t, 6);
        double chunks = 4;
        double ssdFlops = 2 * chunks * (128.0 * 128 * n / 2 + h * (128.0 * 128 * p / 2 + 2.0 * 128 * n * p));

        int c = 2048;
        Buf cx = TourData.randn(arena, t * c, 7);
        Buf cw = TourData.randn(arena, c * 4, 8);
        Buf cy = Buf.allocF32(arena, (long) t * c);

        int ah = 6;
        int kv = 2;
        int ap = 128;
        Buf q = TourData.randn(arena, t * ah * ap, 9);
        Buf k = TourData.randn(arena, t * kv * ap, 10);
        Buf v = TourData.randn(arena, t * kv * ap, 11);
        Buf o = Buf.allocF32(arena, (long) t * ah * ap);
        Attention.Dims am = Attention.Dims.causal(1, t, ah, kv, ap);
        Attention.Dims amRef = Attention.Dims.causal(1, t, 1, 1, ap);
        double attnFlops = 2.0 * 2 * ah * (t * (t + 1) / 2.0) * ap;

        int din = 8192;
        int t1 = 128;
        int n1 = 16;
        Buf mx = TourData.randn(arena, t1 * din, 12);
        Buf mdt = TourData.randn(arena, t1 * din, 13);
        Buf ma = Buf.allocF32(arena, (long) din * n1);
        ma.fill(-0.5);
        Buf mb = TourData.randn(arena, t1 * n1, 14);
        Buf mc = TourData.randn(arena, t1 * n1, 15);
        Buf my = Buf.allocF32(arena, (long) t1 * din);
        int slice = 256;
        return List.of(
                new TourCase("ssd scan fwd", "T=512 H=24 P=64 N=256 L=128", ssdFlops, 0,
                        () -> SsdScan.REF.forward(x1, dt1, null, a, bm, cm, null, null, y, null, oneHead),
                        () -> SsdScan.CPU.forward(x, dt, null, a, bm, cm, null, null, y, null, dims), h),
                new TourCase("conv1d fwd", "T=512 C=2048 W=4", 2.0 * t * c * 4, 2.0 * t * c * 4,
                        () -> CausalConv1d.REF.forward(cx, cw, null, null, cy, null, 1, t, c, 4),
                        () -> CausalConv1d.CPU.forward(cx, cw, null, null, cy, null, 1, t, c, 4)),
                new TourCase("attention prompt", "T=512 H=6 KV=2 P=128", attnFlops, 0,
                        () -> Attention.REF.forward(q, k, v, o, null, amRef, 1 / Math.sqrt(ap)),
                        () -> Attention.CPU.forward(q, k, v, o, null, am, 1 / Math.sqrt(ap)), ah),
                new TourCase("mamba-1 scan fwd", "T=128 Din=8192 N=16", 6.0 * t1 * din * n1, 0,
                        () -> SelectiveScan.REF.forward(mx, mdt, null, ma.slice(0, (long) slice * n1), mb, mc, null, null, my, null, 1, t1, slice, n1),
                        () -> SelectiveScan.CPU.forward(mx, mdt, null, ma, mb, mc, null, null, my, null, 1, t1, din, n1), din / slice));
    }
}
