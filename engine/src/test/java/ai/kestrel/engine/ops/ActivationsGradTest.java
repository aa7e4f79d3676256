package ai.kestrel.engine.ops;

import ai.kestrel.engine.GradCheck;
import ai.kestrel.engine.Rand;
import ai.kestrel.engine.Scope;
import ai.kestrel.engine.Tensor;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class ActivationsGradTest {
    @Test
    void siluSoftplusExp() {
        try (Scope s = Scope.open()) {
            SplittableRandom rnd = new SplittableRandom(9);
            Tensor x = Rand.normal64(rnd, 3, 5, 7).requiresGrad(true);
            GradCheck.of("silu").run(in -> Activations.silu(in[0]), x);
            GradCheck.of("softplus").run(in -> Activations.softplus(in[0]), x);
            GradCheck.of("exp").run(in -> Activations.exp(in[0]), x);
            // softplus past its threshold of 20 is the identity
            Tensor big = Rand.uniform64(rnd, 21, 30, 6).requiresGrad(true);
            GradCheck.of("softplus > 20").run(in -> Activations.softplus(in[0]), big);
        }
    }
}
