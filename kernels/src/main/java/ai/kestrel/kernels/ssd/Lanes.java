package ai.kestrel.kernels.ssd;

import ai.kestrel.kernels.Vec;
import static ai.kestrel.kernels.Vec.F;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

/** The vector primitives the chunked scan is written in: axpy, dot and scale over float arrays. */
final class Lanes {
    private Lanes() {
    }

    /** {@code y[yo, yo+len) += a * x[xo, xo+len)}. */
    static void axpy(float a, float[] x, int xo, float[] y, int yo, int len) {
        int i = 0;
        FloatVector av = FloatVector.broadcast(F, a);
        for (int bound = F.loopBound(len); i < bound; i += F.length()) {
            FloatVector.fromArray(F, x, xo + i).fma(av, FloatVector.fromArray(F, y, yo + i)).intoArray(y, yo + i);
        }
        for (; i < len; i++) {
            y[yo + i] += a * x[xo + i];
        }
    }

    /** {@code a[ao, ao+len) · b[bo, bo+len)}. */
    static float dot(float[] a, int ao, float[] b, int bo, int len) {
        int i = 0;
        FloatVector acc = FloatVector.zero(F);
        for (int bound = F.loopBound(len); i < bound; i += F.length()) {
            acc = FloatVector.fromArray(F, a, ao + i).fma(FloatVector.fromArray(F, b, bo + i), acc);
        }
        float s = Vec.sum(acc);
        for (; i < len; i++) {
            s += a[ao + i] * b[bo + i];
        }
        return s;
    }

    /** {@code y[yo, yo+len) *= s}. */
    static void scale(float s, float[] y, int yo, int len) {
        int i = 0;
        for (int bound = F.loopBound(len); i < bound; i += F.length()) {
            FloatVector.fromArray(F, y, yo + i).mul(s).intoArray(y, yo + i);
        }
        for (; i < len; i++) {
            y[yo + i] *= s;
        }
    }

    static float softplus(float v) {
        return v > 20f ? v : (float) Math.log1p(Math.exp(v));
    }

    static float softplusGrad(float v) {
        return v > 20f ? 1f : (float) (1 / (1 + Math.exp(-v)));
    }
}
