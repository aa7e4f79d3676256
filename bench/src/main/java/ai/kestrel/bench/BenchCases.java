package ai.kestrel.bench;

import ai.kestrel.kernels.cuda.Cuda;

/** The GPU benchmark cases beyond the ceiling and element-wise ones (filled in as kernels land). */
final class BenchCases {
    private BenchCases() {}

    static void run(Cuda c, double bandwidth) {
    }
}
