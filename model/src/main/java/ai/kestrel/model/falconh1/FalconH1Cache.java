package ai.kestrel.model.falconh1;

import ai.kestrel.engine.DType;
import ai.kestrel.engine.Scope;
import ai.kestrel.engine.Tensor;
import ai.kestrel.model.RowCache;
import ai.kestrel.model.config.FalconH1Config;

/**
 * Generation state of a Falcon-H1 model, per layer: the conv window {@code (B, W-1, conv_dim)}, the SSM state
 * {@code (B, H, P, N)} and the attention keys and values {@code (B, capacity, KV, head_dim)}. The Mamba part is
 * constant-size; the attention part grows with each row's length up to the capacity. Owns its memory (a
 * {@link #prefix} view does not).
 */
public final class FalconH1Cache extends RowCache {
    final Tensor[] conv;
    final Tensor[] ssm;
    final Tensor[] keys;
    final Tensor[] values;

    private FalconH1Cache(int batch, int capacity, int[] lengths, Tensor[] conv, Tensor[] ssm, Tensor[] keys, Tensor[] values, Scope scope) {
        super(batch, capacity, lengths, concat(conv, ssm), concat(keys, values), scope);
        this.conv = conv;
        this.ssm = ssm;
        this.keys = keys;
        this.values = values;
    }

    static FalconH1Cache create(FalconH1Config c, int batch, int capacity) {
        return create(c, batch, capacity, ai.kestrel.engine.Device.CPU, DType.F32);
    }

    /** A zeroed cache on {@code device} (the model's), keys and values stored as {@code kv} (F32 or F16). */
    static FalconH1Cache create(FalconH1Config c, int batch, int capacity, ai.kestrel.engine.Device device, DType kv) {
        Scope scope = Scope.detached("falcon-h1 cache");
        int n = c.numLayers();
        Tensor[] conv = new Tensor[n];
        Tensor[] ssm = new Tensor[n];
        Tensor[] keys = new Tensor[n];
        Tensor[] values = new Tensor[n];
        for (int i = 0; i < n; i++) {
            conv[i] = Tensor.zeros(scope, device, DType.F32, batch, c.mambaDConv() - 1, c.convDim());
            ssm[i] = Tensor.zeros(scope, device, DType.F32, batch, c.mambaHeads(), c.mambaHeadDim(), c.mambaDState());
            keys[i] = Tensor.zeros(scope, device, kv, batch, capacity, c.numKeyValueHeads(), c.headDim());
            values[i] = Tensor.zeros(scope, device, kv, batch, capacity, c.numKeyValueHeads(), c.headDim());
        }
        return new FalconH1Cache(batch, capacity, new int[batch], conv, ssm, keys, values, scope);
    }

    @Override
    public FalconH1Cache prefix(int rows) {
        return new FalconH1Cache(rows, capacity, lengths, prefixOf(conv, rows), prefixOf(ssm, rows), prefixOf(keys, rows),
                prefixOf(values, rows), null);
    }
}
