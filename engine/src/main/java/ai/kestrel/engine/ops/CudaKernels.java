package ai.kestrel.engine.ops;

import ai.kestrel.kernels.attention.Attention;
import ai.kestrel.kernels.conv.CausalConv1d;
import ai.kestrel.kernels.cuda.AttentionCuda;
import ai.kestrel.kernels.cuda.CausalConv1dCuda;
import ai.kestrel.kernels.cuda.CrossEntropyCuda;
import ai.kestrel.kernels.cuda.ElementwiseCuda;
import ai.kestrel.kernels.cuda.GatedRmsNormCuda;
import ai.kestrel.kernels.cuda.RmsNormCuda;
import ai.kestrel.kernels.cuda.RopeCuda;
import ai.kestrel.kernels.cuda.SelectiveScanCuda;
import ai.kestrel.kernels.cuda.SoftmaxCuda;
import ai.kestrel.kernels.cuda.SsdScanCuda;
import ai.kestrel.kernels.elementwise.Elementwise;
import ai.kestrel.kernels.loss.CrossEntropy;
import ai.kestrel.kernels.norm.GatedRmsNorm;
import ai.kestrel.kernels.norm.RmsNorm;
import ai.kestrel.kernels.rope.Rope;
import ai.kestrel.kernels.scan.SelectiveScan;
import ai.kestrel.kernels.softmax.Softmax;
import ai.kestrel.kernels.ssd.SsdScan;

/**
 * The CUDA implementations the ops pick for GPU operands. A holder: its classes load on the first GPU op, never
 * on a CPU-only run. Their kernel-interface methods take the tensors' device buffers in place
 * ({@code Buf.onDevice}); host buffers an op makes for itself are staged through the device.
 */
final class CudaKernels {
    private CudaKernels() {
    }

    static final Attention ATTENTION = new AttentionCuda();
    static final Elementwise ELEMENTWISE = new ElementwiseCuda();
    static final RmsNorm RMS_NORM = new RmsNormCuda();
    static final GatedRmsNorm GATED_RMS_NORM = new GatedRmsNormCuda();
    static final Softmax SOFTMAX = new SoftmaxCuda();
    static final Rope ROPE = new RopeCuda();
    static final CrossEntropy CROSS_ENTROPY = new CrossEntropyCuda();
    static final CausalConv1d CONV1D = new CausalConv1dCuda();
    static final SelectiveScan SELECTIVE_SCAN = new SelectiveScanCuda();
    static final SsdScan SSD = new SsdScanCuda();
}
