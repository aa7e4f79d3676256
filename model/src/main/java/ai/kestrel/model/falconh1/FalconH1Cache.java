package ai.kestrel.model.falconh1;

import ai.kestrel.engine.DType;
import ai.kestrel.engine.Scope;
import ai.kestrel.engine.Tensor;
import ai.kestrel.model.LanguageModel;
import ai.kestrel.model.config.FalconH1Config;

/**
 * Generation state of a Falcon-H1 model, per layer: the conv window {@code (B, W-1, conv_dim)}, the SSM state
 * {@code (B, H, P, N)} and the attention keys and values {@code (B, capacity, KV, head_dim)}. The Mamba part is
 * constant-size; the attention part grows with {@link #length()} up to the capacity. Owns its memory.
 */
public final class FalconH1Cache implements LanguageModel.Cache {
    final Tensor[] conv;
    final Tensor[] ssm;
    final Tensor[] keys;
    final Tensor[] values;
    final int capacity;
    final int batch;
    int length;
    private final Scope scope;

    FalconH1Cache(FalconH1Config c, int batch, int capacity) {
        this.capacity = capacity;
        this.batch = batch;
        this.scope = Scope.detached("falcon-h1 cache");
        int n = c.numLayers();
        conv = new Tensor[n];
        ssm = new Tensor[n];
        keys = new Tensor[n];
        values = new Tensor[n];
        for (int i = 0; i < n; i++) {
            conv[i] = Tensor.zeros(scope, DType.F32, batch, c.mambaDConv() - 1, c.convDim());
            ssm[i] = Tensor.zeros(scope, DType.F32, batch, c.mambaHeads(), c.mambaHeadDim(), c.mambaDState());
            keys[i] = Tensor.zeros(scope, DType.F32, batch, capacity, c.numKeyValueHeads(), c.headDim());
            values[i] = Tensor.zeros(scope, DType.F32, batch, capacity, c.numKeyValueHeads(), c.headDim());
        }
    }

    @Override
    public int length() {
        return length;
    }

    @Override
    public int capacity() {
        return capacity;
    }

    @Override
    public void close() {
        scope.close();
    }
}
