package ai.kestrel.model.generate;

/** The k largest log-probabilities of a row of logits (log-softmax over the first {@code n}), highest first. */
public final class TopLogprobs {
    private TopLogprobs() {
    }

    public static float[] of(float[] logits, int n, int k) {
        double max = Double.NEGATIVE_INFINITY;
        for (int i = 0; i < n; i++) {
            max = Math.max(max, logits[i]);
        }
        double sum = 0;
        for (int i = 0; i < n; i++) {
            sum += Math.exp(logits[i] - max);
        }
        double lse = max + Math.log(sum);
        int kk = Math.min(k, n);
        // partial selection: keep the k largest in a small sorted array
        float[] top = new float[kk];
        java.util.Arrays.fill(top, Float.NEGATIVE_INFINITY);
        for (int i = 0; i < n; i++) {
            float v = logits[i];
            if (v > top[kk - 1]) {
                int j = kk - 1;
                while (j > 0 && top[j - 1] < v) {
                    top[j] = top[j - 1];
                    j--;
                }
                top[j] = v;
            }
        }
        for (int i = 0; i < kk; i++) {
            top[i] = (float) (top[i] - lse);
        }
        return top;
    }
}
