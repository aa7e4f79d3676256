package ai.kestrel.train.tour;

import ai.kestrel.kernels.Buf;
import ai.kestrel.kernels.elementwise.Elementwise;
import java.lang.foreign.Arena;
import java.util.List;

/** SiLU and softplus over a 512 x 3072 MLP activation. */
final class ElementwiseTour implements TourSuite {
    @Override
    public List<TourCase> cases(Arena arena) {
        int n = 512 * 3072;
        Buf x = TourData.randn(arena, n, 11);
        Buf y = Buf.allocF32(arena, n);
        return List.of(
                new TourCase("silu", "n=512x3072", 0, 2.0 * n * 4,
                        () -> Elementwise.REF.silu(x, y, n), () -> Elementwise.CPU.silu(x, y, n)),
                new TourCase("softplus", "n=512x3072", 0, 2.0 * n * 4,
                        () -> Elementwise.REF.softplus(x, y, n), () -> Elementwise.CPU.softplus(x, y, n)));
    }
}
