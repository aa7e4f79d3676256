package ai.kestrel.model.falconmamba;

import ai.kestrel.engine.Autograd;
import ai.kestrel.engine.DType;
import ai.kestrel.engine.Scope;
import ai.kestrel.engine.Tensor;
import ai.kestrel.engine.ops.Activations;
import ai.kestrel.engine.ops.Arith;
import ai.kestrel.engine.ops.Conv1d;
import ai.kestrel.engine.ops.Embeddings;
import ai.kestrel.engine.ops.Linalg;
import ai.kestrel.engine.ops.Norms;
import ai.kestrel.engine.ops.Numerics;
import ai.kestrel.engine.ops.SelectiveScans;
import ai.kestrel.engine.ops.Shapes;
import ai.kestrel.model.LanguageModel;
import ai.kestrel.model.RowCache;
import ai.kestrel.model.config.FalconMambaConfig;
import java.lang.foreign.MemorySegment;

/**
 * Falcon-Mamba (Hugging Face {@code FalconMambaForCausalLM}). Per layer: RMSNorm, then the mixer:
 * {@code in_proj} into {@code x | z}; conv1d + SiLU on x; {@code x_proj} into {@code dt | B | C}, each
 * RMS-normalised without weight (the Falcon-Mamba difference from Mamba-1); {@code dt_proj} (its bias goes to
 * the scan as dt bias); the selective scan with {@code A = -exp(A_log)} and the D skip; {@code y * silu(z)};
 * {@code out_proj}; added to the residual.
 *
 * <p>The dt/B/C norms use {@code mixer_rms_eps} (HF, default 1e-6) for Hugging Face weights and
 * {@code layer_norm_epsilon} for GGUF weights, as llama.cpp does (see the fixtures' README).
 */
public final class FalconMamba implements LanguageModel {
    /** One layer's weights; matrices in their stored dtype, vectors float32, {@code a} is A itself. */
    public record Layer(Tensor norm, Tensor inProj, Tensor conv, Tensor convBias, Tensor xProj, Tensor dtProj, Tensor dtBias,
                        Tensor a, Tensor d, Tensor outProj) {
        /** Every weight of the layer in the record's order, the absent conv bias left out. */
        public java.util.List<Tensor> tensors() {
            java.util.List<Tensor> p = new java.util.ArrayList<>();
            for (Tensor t : new Tensor[] {norm, inProj, conv, convBias, xProj, dtProj, dtBias, a, d, outProj}) {
                if (t != null) {
                    p.add(t);
                }
            }
            return p;
        }
    }

    private final FalconMambaConfig config;
    private final Tensor embed;
    private final Tensor finalNorm;
    private final Tensor lmHead;
    private final Layer[] layers;
    private final double mixerEps;
    private final Tensor onesRank;
    private final Tensor onesState;
    private final Scope weights;
    private final String source;
    private volatile Numerics numerics = Numerics.TRANSFORMERS;
    private volatile boolean checkpointing;
    /** Inputs of at most this many tokens (batch x length) run all layers in the caller's scope: single-token steps. */
    private static final int LAYER_SCOPE_MIN_TOKENS = 1;

    FalconMamba(FalconMambaConfig config, Tensor embed, Tensor finalNorm, Tensor lmHead, Layer[] layers, double mixerEps, Scope weights,
                String source) {
        this.config = config;
        this.embed = embed;
        this.finalNorm = finalNorm;
        this.lmHead = lmHead;
        this.layers = layers;
        this.mixerEps = mixerEps;
        this.weights = weights;
        this.source = source;
        try (var in = weights.enter()) {
            this.onesRank = ones(config.timeStepRank(), embed.dtype()).to(embed.device());
            this.onesState = ones(config.stateSize(), embed.dtype()).to(embed.device());
        }
    }

    /** A copy with every weight in float64 (in {@code scope}), for gradient checks of the whole model. */
    FalconMamba toF64(Scope scope) {
        try (var in = scope.enter(); var ng = Autograd.noGrad()) {
            Layer[] l = new Layer[layers.length];
            for (int i = 0; i < l.length; i++) {
                Layer w = layers[i];
                l[i] = new Layer(f64(w.norm()), f64(w.inProj()), f64(w.conv()), f64(w.convBias()), f64(w.xProj()), f64(w.dtProj()),
                        f64(w.dtBias()), f64(w.a()), f64(w.d()), f64(w.outProj()));
            }
            FalconMamba copy = new FalconMamba(config, f64(embed), f64(finalNorm), f64(lmHead), l, mixerEps, scope, source + " (float64)");
            copy.numerics = numerics;
            return copy;
        }
    }

    private static Tensor f64(Tensor t) {
        return t == null ? null : ai.kestrel.engine.ops.Casts.to(t, DType.F64);
    }

    /** Ones for the dt/B/C norms: float64 for a float64 model, float32 for every other. */
    private static Tensor ones(int n, DType model) {
        Tensor t = Tensor.zeros(model == DType.F64 ? DType.F64 : DType.F32, n);
        for (int i = 0; i < n; i++) {
            t.setDouble(i, 1);
        }
        return t;
    }

    /**
     * Layer {@code i}'s weights: set {@link Tensor#requiresGrad(boolean)} on those whose gradients a backward pass
     * should fill ({@code a} is A itself, so its gradient is {@code dL/dA}, not {@code dL/dA_log}).
     */
    public Layer layer(int i) {
        return layers[i];
    }

    public int numLayers() {
        return layers.length;
    }

    /**
     * Activation checkpointing per layer when gradients are recorded and no cache is given: each layer keeps only its
     * input and is recomputed during backward ({@link Autograd#checkpoint}), so memory holds one layer's activations
     * at a time instead of all of them; the gradients are the same.
     */
    public void setActivationCheckpointing(boolean on) {
        this.checkpointing = on;
    }

    public FalconMambaConfig config() {
        return config;
    }

    @Override
    public int vocabSize() {
        return config.vocabSize();
    }

    @Override
    public String describe() {
        return "Falcon-Mamba " + config.numLayers() + " layers, hidden " + config.hiddenSize() + ", d_inner " + config.intermediateSize()
                + ", state " + config.stateSize() + ", vocab " + config.vocabSize() + ", weights " + embed.dtype() + " from " + source;
    }

    /** The generation state: per layer the conv window {@code (B, W-1, Din)} and the SSM state {@code (B, Din, N)}. */
    public static final class State extends RowCache {
        final Tensor[] conv;
        final Tensor[] ssm;

        private State(int batch, int capacity, int[] lengths, Tensor[] conv, Tensor[] ssm, Scope scope) {
            super(batch, capacity, lengths, concat(conv, ssm), new Tensor[0], scope);
            this.conv = conv;
            this.ssm = ssm;
        }

        static State create(FalconMambaConfig c, int batch, int capacity, ai.kestrel.engine.Device device) {
            Scope scope = Scope.detached("falcon-mamba cache");
            Tensor[] conv = new Tensor[c.numLayers()];
            Tensor[] ssm = new Tensor[c.numLayers()];
            for (int i = 0; i < conv.length; i++) {
                conv[i] = Tensor.zeros(scope, device, DType.F32, batch, c.convKernel() - 1, c.intermediateSize());
                ssm[i] = Tensor.zeros(scope, device, DType.F32, batch, c.intermediateSize(), c.stateSize());
            }
            return new State(batch, capacity, new int[batch], conv, ssm, scope);
        }

        @Override
        public State prefix(int rows) {
            return new State(rows, capacity, lengths, prefixOf(conv, rows), prefixOf(ssm, rows), null);
        }
    }

    @Override
    public State newCache(int batch, int capacity) {
        return State.create(config, batch, capacity, embed.device());
    }

    /**
     * {@inheritDoc} In no-grad mode each layer runs in its own {@link Scope}, so a prompt's memory is one
     * layer's activations, not all of them.
     */
    @Override
    public Tensor forward(Tensor ids, Cache c) {
        return forward(ids, c, false);
    }

    @Override
    public Tensor forwardLast(Tensor ids, Cache c) {
        return forward(ids, c, true);
    }

    private Tensor forward(Tensor ids, Cache c, boolean lastOnly) {
        State state = (State) c;
        int t = ids.dim(1);
        if (state != null) {
            if (state.batch() != ids.dim(0)) {
                throw new IllegalArgumentException("cache was made for batch " + state.batch() + ", input has batch " + ids.dim(0));
            }
            if (state.length() + t > state.capacity()) {
                throw new IllegalArgumentException("cache holds " + state.capacity() + " tokens; " + state.length() + " + " + t + " do not fit");
            }
        }
        Tensor x = Embeddings.lookup(embed, ids);
        // per-layer scopes as in FalconH1.forward: none for a single token (closing one stops every thread, ~150 µs)
        boolean release = !Autograd.isEnabled() && (long) ids.dim(0) * ids.dim(1) > LAYER_SCOPE_MIN_TOKENS;
        for (int i = 0; i < layers.length; i++) {
            if (release) {
                Scope outer = Scope.current();
                try (Scope inner = Scope.open()) {
                    x = block(i, x, state).copyTo(outer);
                }
            } else if (checkpointing && state == null && Autograd.isEnabled()) {
                int li = i;
                x = Autograd.checkpoint("falcon-mamba layer " + i, xi -> block(li, xi, null), x, layers[i].tensors());
            } else {
                x = block(i, x, state);
            }
        }
        if (state != null) {
            state.advance(t);
        }
        if (lastOnly && t > 1) {
            x = Shapes.narrow(x, 1, t - 1, 1);
        }
        return Linalg.linear(Norms.rmsNorm(x, finalNorm, config.layerNormEps()), lmHead, null, numerics);
    }

    /** Layer {@code i}: {@code x + mixer(rmsNorm(x))}. */
    private Tensor block(int i, Tensor x, State state) {
        return Arith.add(x, mixer(i, Norms.rmsNorm(x, layers[i].norm(), config.layerNormEps()), state));
    }

    private Tensor mixer(int i, Tensor h, State state) {
        Layer w = layers[i];
        int b = h.dim(0);
        int t = h.dim(1);
        int din = config.intermediateSize();
        int n = config.stateSize();
        Tensor[] xz = Shapes.split(Linalg.linear(h, w.inProj(), null, numerics), -1, din, din);
        Tensor x;
        boolean step = state != null && t == 1;
        if (step) {
            x = Activations.silu(Conv1d.step(xz[0].view(b, din), w.conv(), w.convBias(), state.conv[i])).view(b, 1, din);
        } else {
            Conv1d.Result conv = Conv1d.causal(xz[0], w.conv(), w.convBias(), state == null ? null : state.conv[i]);
            x = Activations.silu(conv.y());
            if (state != null) {
                Tensor.copyBytes(conv.state(), 0, state.conv[i], 0, state.conv[i].storage().byteSize());
            }
        }
        Tensor[] dbc = Shapes.split(Linalg.linear(x, w.xProj(), null, numerics), -1, config.timeStepRank(), n, n);
        Tensor dtLow = Norms.rmsNorm(dbc[0], onesRank, mixerEps);
        Tensor bm = Norms.rmsNorm(dbc[1], onesState, mixerEps);
        Tensor cm = Norms.rmsNorm(dbc[2], onesState, mixerEps);
        Tensor dt = Linalg.linear(dtLow, w.dtProj(), null, numerics);
        Tensor y;
        if (step) {
            y = SelectiveScans.step(x.view(b, din), dt.view(b, din), w.dtBias(), w.a(), bm.view(b, n), cm.view(b, n), w.d(), state.ssm[i]).view(b, 1, din);
        } else {
            SelectiveScans.Result r = SelectiveScans.scan(x, dt, w.dtBias(), w.a(), bm, cm, w.d(), state == null ? null : state.ssm[i]);
            y = r.y();
            if (state != null) {
                Tensor.copyBytes(r.state(), 0, state.ssm[i], 0, state.ssm[i].storage().byteSize());
            }
        }
        return Linalg.linear(Arith.mul(y, Activations.silu(xz[1])), w.outProj(), null, numerics);
    }

    /** The device the weights are on. */
    public ai.kestrel.engine.Device device() {
        return embed.device();
    }

    /**
     * This model with every weight on {@code device} (copied into a new scope the returned model owns; this one
     * stays usable), or this model when it is already there.
     */
    public FalconMamba to(ai.kestrel.engine.Device device) {
        if (device == device()) {
            return this;
        }
        Scope scope = Scope.detached("falcon-mamba weights on " + device);
        try (Scope.Entered e = scope.enter()) {
            Layer[] moved = new Layer[layers.length];
            for (int i = 0; i < layers.length; i++) {
                Layer l = layers[i];
                moved[i] = new Layer(l.norm().to(device), l.inProj().to(device), l.conv().to(device), mv(l.convBias(), device),
                        l.xProj().to(device), l.dtProj().to(device), mv(l.dtBias(), device), l.a().to(device), l.d().to(device),
                        l.outProj().to(device));
            }
            FalconMamba copy = new FalconMamba(config, embed.to(device), finalNorm.to(device), lmHead.to(device), moved, mixerEps, scope,
                    source + " on " + device);
            copy.numerics = numerics;
            return copy;
        }
    }

    private static Tensor mv(Tensor t, ai.kestrel.engine.Device device) {
        return t == null ? null : t.to(device);
    }

    /** Logits of a whole prompt (no cache, no gradient): {@code (T, V)}. */
    public float[][] logits(int[] ids) {
        try (Scope s = Scope.open(); var ng = Autograd.noGrad()) {
            Tensor out = forward(Tensor.ofInts(ids, 1, ids.length), null);
            int v = out.dim(2);
            float[] all = out.toFloatArray();
            float[][] rows = new float[ids.length][v];
            for (int i = 0; i < ids.length; i++) {
                System.arraycopy(all, i * v, rows[i], 0, v);
            }
            return rows;
        }
    }

    @Override
    public Numerics numerics() {
        return numerics;
    }

    @Override
    public void setNumerics(Numerics numerics) {
        this.numerics = java.util.Objects.requireNonNull(numerics, "numerics");
    }

    @Override
    public void close() {
        weights.close();
    }
}
