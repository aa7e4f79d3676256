package ai.kestrel.model.falconh1;

import ai.kestrel.engine.Autograd;
import ai.kestrel.engine.DType;
import ai.kestrel.engine.Scope;
import ai.kestrel.engine.Tensor;
import ai.kestrel.engine.ops.Activations;
import ai.kestrel.engine.ops.Arith;
import ai.kestrel.engine.ops.Attentions;
import ai.kestrel.engine.ops.Conv1d;
import ai.kestrel.engine.ops.Embeddings;
import ai.kestrel.engine.ops.Linalg;
import ai.kestrel.engine.ops.Norms;
import ai.kestrel.engine.ops.Numerics;
import ai.kestrel.engine.ops.Rotary;
import ai.kestrel.engine.ops.Shapes;
import ai.kestrel.engine.ops.Ssd;
import ai.kestrel.model.LanguageModel;
import ai.kestrel.model.RowCache;
import ai.kestrel.model.config.FalconH1Config;
import java.lang.foreign.MemorySegment;

/**
 * A Falcon-H1 model (Hugging Face {@code FalconH1ForCausalLM}). Per layer, on the same RMS-normed input:
 * <ol>
 *   <li>the Mamba-2 mixer: {@code in_proj} (input times {@code ssm_in_multiplier}, output times the five
 *       {@code ssm_multipliers} on its {@code z | x | B | C | dt} rows), conv1d + SiLU over {@code x | B | C},
 *       the SSD scan, then {@code y * silu(z)} or the gated grouped RMSNorm, {@code out_proj}, times
 *       {@code ssm_out_multiplier};</li>
 *   <li>attention on the input times {@code attention_in_multiplier}: keys times {@code key_multiplier}
 *       before NeoX RoPE, grouped-query causal attention scaled by {@code head_dim^-0.5}, {@code o_proj},
 *       times {@code attention_out_multiplier};</li>
 *   <li>both added to the residual; then the gated MLP
 *       {@code down(up(x) * silu(gate(x) * m0)) * m1} on the pre-ff norm, added to the residual.</li>
 * </ol>
 * Embeddings are scaled by {@code embedding_multiplier}, logits by {@code lm_head_multiplier}. Weights from GGUF
 * come with every multiplier folded in by llama.cpp's converter ({@code folded}): they are then all 1.
 *
 * <p>With a cache, a call continues from the cached state: one token takes the O(1) step kernels (conv window,
 * SSM state, attention over the cache); longer inputs run the chunked scan from the cached state.
 */
public final class FalconH1 implements LanguageModel {
    private final FalconH1Config config;
    private final boolean folded;
    private final Tensor embed;
    private final Tensor finalNorm;
    private final Tensor lmHead;
    private final FalconH1Layer[] layers;
    private final Tensor mupVector;
    private final Scope weights;
    private final String source;
    private volatile Numerics numerics = Numerics.TRANSFORMERS;
    private volatile ai.kestrel.engine.DType kvCacheType = ai.kestrel.engine.DType.F32;
    /** Inputs of at most this many tokens (batch x length) run all layers in the caller's scope: single-token steps. */
    private static final int LAYER_SCOPE_MIN_TOKENS = 1;
    private volatile ai.kestrel.model.lora.Lora adapter;
    private volatile boolean checkpointing;
    private volatile boolean keepProducts;

    FalconH1(FalconH1Config config, boolean folded, Tensor embed, Tensor finalNorm, Tensor lmHead, FalconH1Layer[] layers,
             Tensor mupVector, Scope weights, String source) {
        this.config = config;
        this.folded = folded;
        this.embed = embed;
        this.finalNorm = finalNorm;
        this.lmHead = lmHead;
        this.layers = layers;
        this.mupVector = mupVector;
        this.weights = weights;
        this.source = source;
    }

    public FalconH1Config config() {
        return config;
    }

    /**
     * A copy of this model with every weight in float64, in {@code scope}: the reference kernels then run the
     * whole forward and backward pass in double, which is what gradient checks of training need.
     */
    FalconH1 toF64(Scope scope) {
        try (var in = scope.enter(); var ng = Autograd.noGrad()) {
            FalconH1Layer[] l = new FalconH1Layer[layers.length];
            for (int i = 0; i < l.length; i++) {
                FalconH1Layer w = layers[i];
                l[i] = new FalconH1Layer(f64(w.inputNorm()), f64(w.preFfNorm()), f64(w.q()), f64(w.k()), f64(w.v()), f64(w.o()),
                        f64(w.inProj()), f64(w.conv()), f64(w.convBias()), f64(w.dtBias()), f64(w.a()), f64(w.d()), f64(w.mambaNorm()),
                        f64(w.outProj()), f64(w.gate()), f64(w.up()), f64(w.down()));
            }
            FalconH1 copy = new FalconH1(config, folded, f64(embed), f64(finalNorm), f64(lmHead), l, f64(mupVector), scope, source + " (float64)");
            copy.numerics = numerics;
            return copy;
        }
    }

    private static Tensor f64(Tensor t) {
        return t == null ? null : ai.kestrel.engine.ops.Casts.to(t, DType.F64);
    }

    /** True when the muP multipliers are folded into the weights (GGUF files). */
    public boolean folded() {
        return folded;
    }

    /** The LoRA adapter the forward pass applies, or {@code null}. */
    public ai.kestrel.model.lora.Lora adapter() {
        return adapter;
    }

    /** Applies {@code lora} from now on ({@code null} removes it); the caller keeps ownership of it. */
    public void setAdapter(ai.kestrel.model.lora.Lora lora) {
        this.adapter = lora;
    }

    /** {@code x·wᵀ} of the module at {@code model.layers.{layer}.{module}}, plus the adapter's update when it wraps it. */
    private Tensor linear(int layer, String module, Tensor x, Tensor w) {
        ai.kestrel.model.lora.Lora a = adapter;
        return a == null ? Linalg.linear(x, w, null, numerics) : a.linear("model.layers." + layer + "." + module, x, w, numerics);
    }

    /** Replaces layer {@code i}'s weights (for merging adapters); the caller owns the new tensors' lifetime. */
    public void setLayer(int i, FalconH1Layer l) {
        layers[i] = java.util.Objects.requireNonNull(l, "layer");
    }

    /**
     * Activation checkpointing per layer for training: each layer's forward keeps only its input, and is
     * recomputed during backward (see {@link Autograd#checkpoint}); memory then holds one layer's activations
     * at a time instead of all of them.
     */
    public void setActivationCheckpointing(boolean on) {
        this.checkpointing = on;
    }

    /**
     * With {@linkplain #setActivationCheckpointing activation checkpointing}: keep each layer's matrix-product
     * outputs from the forward pass, so that the recomputation in backward redoes only the element-wise ops, norms,
     * the scan and attention (selective checkpointing, {@link Autograd#checkpoint(String,
     * java.util.function.UnaryOperator, Tensor, java.util.List, boolean)}). The gradients are unchanged; a step
     * saves the recomputed products (about a third of its matrix work when the base is frozen) for the memory of
     * every layer's product outputs: per token and layer, the widths of in_proj, q, k, v, o, out_proj, gate, up and
     * down, in float32.
     */
    public void setKeepProducts(boolean on) {
        this.keepProducts = on;
    }

    /** Every tensor layer {@code i} reads that might require a gradient: its weights and the adapter's factors there. */
    private java.util.List<Tensor> layerParams(int i) {
        FalconH1Layer w = layers[i];
        java.util.List<Tensor> p = new java.util.ArrayList<>();
        for (Tensor t : new Tensor[] {w.inputNorm(), w.preFfNorm(), w.q(), w.k(), w.v(), w.o(), w.inProj(), w.conv(), w.convBias(),
                w.dtBias(), w.a(), w.d(), w.mambaNorm(), w.outProj(), w.gate(), w.up(), w.down()}) {
            if (t != null) {
                p.add(t);
            }
        }
        ai.kestrel.model.lora.Lora a = adapter;
        if (a != null) {
            String prefix = "model.layers." + i + ".";
            for (var e : a.modules().entrySet()) {
                if (e.getKey().startsWith(prefix)) {
                    p.add(e.getValue().a());
                    p.add(e.getValue().b());
                }
            }
        }
        return p;
    }

    /** The layers' weights (for adapters and training). */
    public FalconH1Layer layer(int i) {
        return layers[i];
    }

    public int numLayers() {
        return layers.length;
    }

    @Override
    public int vocabSize() {
        return config.vocabSize();
    }

    @Override
    public String describe() {
        return "Falcon-H1 " + config.numLayers() + " layers, hidden " + config.hiddenSize() + ", attention " + config.numAttentionHeads()
                + "/" + config.numKeyValueHeads() + "x" + config.headDim() + ", mamba " + config.mambaHeads() + "x" + config.mambaHeadDim()
                + " state " + config.mambaDState() + ", vocab " + config.vocabSize() + ", weights " + embed.dtype()
                + (folded ? " (muP folded by the GGUF converter)" : "") + " from " + source;
    }

    @Override
    public FalconH1Cache newCache(int batch, int capacity) {
        if (kvCacheType != ai.kestrel.engine.DType.F32 && embed.device() != ai.kestrel.engine.Device.CPU) {
            throw new UnsupportedOperationException("an " + kvCacheType + " KV cache is read on the CPU only; this model is on " + embed.device()
                    + " (use an F32 cache there)");
        }
        return FalconH1Cache.create(config, batch, capacity, embed.device(), kvCacheType);
    }

    private double mult(double m) {
        return folded ? 1.0 : m;
    }

    private static Tensor scaled(Tensor t, double s) {
        return s == 1.0 ? t : Arith.scale(t, s);
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
        FalconH1Cache cache = (FalconH1Cache) c;
        int b = ids.dim(0);
        int t = ids.dim(1);
        int start = cache == null ? 0 : cache.length(0);
        if (cache != null) {
            if (cache.batch() != b) {
                throw new IllegalArgumentException("cache was made for batch " + cache.batch() + ", input has batch " + b);
            }
            if (cache.length() + t > cache.capacity()) {
                throw new IllegalArgumentException("cache holds " + cache.capacity() + " tokens; " + cache.length() + " + " + t + " do not fit");
            }
            if (!cache.uniform() && (t != 1 || Autograd.isEnabled())) {
                throw new IllegalArgumentException("rows of different lengths can only take single-token steps without gradients");
            }
        }
        var mup = config.mup();
        Tensor x = scaled(Embeddings.lookup(embed, ids), mult(mup.embedding()));
        // per-layer scopes bound a prompt's memory to one layer's activations and let the allocator reuse it layer
        // after layer; one token needs neither, and closing a (shared) scope stops every thread for ~150 µs: 66 of
        // them were 10 ms of each decode step. (Eight rows without them ran 15.6-16.0 -> 9.0-12.9 tok/s.)
        boolean release = !Autograd.isEnabled() && (long) ids.dim(0) * ids.dim(1) > LAYER_SCOPE_MIN_TOKENS;
        for (int i = 0; i < layers.length; i++) {
            if (release) {
                Scope outer = Scope.current();
                try (Scope inner = Scope.open()) {
                    x = layer(i, x, cache, start).copyTo(outer);
                }
            } else if (checkpointing && cache == null) {
                int li = i;
                x = Autograd.checkpoint("falcon-h1 layer " + i, xi -> layer(li, xi, null, start), x, layerParams(i), keepProducts);
            } else {
                x = layer(i, x, cache, start);
            }
        }
        if (cache != null) {
            cache.advance(t);
        }
        if (lastOnly && t > 1) {
            x = Shapes.narrow(x, 1, t - 1, 1);
        }
        Tensor h = Norms.rmsNorm(x, finalNorm, config.rmsNormEps());
        return scaled(Linalg.linear(h, lmHead, null, numerics), mult(mup.lmHead()));
    }

    private Tensor layer(int i, Tensor x, FalconH1Cache cache, int start) {
        FalconH1Layer w = layers[i];
        var mup = config.mup();
        Tensor h = Norms.rmsNorm(x, w.inputNorm(), config.rmsNormEps());
        // without gradients or an adapter, the projections of one input run as one job of the kernel pool
        boolean fuse = adapter == null && !Autograd.isEnabled();
        Tensor[] inputs = null; // in_proj, q, k, v of the same input
        if (fuse && mult(mup.ssmIn()) == mult(mup.attentionIn())) {
            inputs = Linalg.linearMany(numerics, scaled(h, mult(mup.ssmIn())), w.inProj(), w.q(), w.k(), w.v());
        }
        Tensor mamba = scaled(mamba(i, w, h, cache, inputs == null ? null : inputs[0]), mult(mup.ssmOut()));
        Tensor attn = scaled(attention(i, w, scaled(h, mult(mup.attentionIn())), cache, start, inputs), mult(mup.attentionOut()));
        x = Arith.add(x, Arith.add(mamba, attn));
        Tensor f = Norms.rmsNorm(x, w.preFfNorm(), config.rmsNormEps());
        Tensor[] gateUp = fuse ? Linalg.linearMany(numerics, f, w.gate(), w.up())
                : new Tensor[] {linear(i, "feed_forward.gate_proj", f, w.gate()), linear(i, "feed_forward.up_proj", f, w.up())};
        Tensor g = Activations.silu(scaled(gateUp[0], mult(mup.mlp().get(0))));
        Tensor ff = scaled(linear(i, "feed_forward.down_proj", Arith.mul(gateUp[1], g), w.down()), mult(mup.mlp().get(1)));
        return Arith.add(x, ff);
    }

    /** The Mamba-2 mixer on {@code h}; {@code proj} is its in_proj output when already computed, else null. */
    private Tensor mamba(int i, FalconH1Layer w, Tensor h, FalconH1Cache cache, Tensor proj) {
        FalconH1Config c = config;
        int b = h.dim(0);
        int t = h.dim(1);
        int dSsm = c.dSsm();
        int gn = c.mambaGroups() * c.mambaDState();
        if (proj == null) {
            proj = linear(i, "mamba.in_proj", scaled(h, mult(c.mup().ssmIn())), w.inProj());
        }
        if (mupVector != null) {
            proj = Arith.mul(proj, mupVector);
        }
        Tensor[] zxd = Shapes.split(proj, -1, dSsm, c.convDim(), c.mambaHeads());
        Tensor y;
        if (cache != null && t == 1) {
            // one token: the rolling conv window and the SSM state step, O(1) in the sequence length
            Tensor xbc = Activations.silu(Conv1d.step(zxd[1].view(b, c.convDim()), w.conv(), w.convBias(), cache.conv[i]));
            Tensor[] xs = Shapes.split(xbc, -1, dSsm, gn, gn);
            y = Ssd.step(xs[0].view(b, c.mambaHeads(), c.mambaHeadDim()), zxd[2].view(b, c.mambaHeads()), w.dtBias(), w.a(),
                    xs[1].view(b, c.mambaGroups(), c.mambaDState()), xs[2].view(b, c.mambaGroups(), c.mambaDState()), w.d(), cache.ssm[i]);
        } else {
            Conv1d.Result conv = Conv1d.causal(zxd[1], w.conv(), w.convBias(), cache == null ? null : cache.conv[i]);
            Tensor xbc = Activations.silu(conv.y());
            Tensor[] xs = Shapes.split(xbc, -1, dSsm, gn, gn);
            Ssd.Result scan = Ssd.scan(xs[0].view(b, t, c.mambaHeads(), c.mambaHeadDim()), zxd[2], w.dtBias(), w.a(),
                    xs[1].view(b, t, c.mambaGroups(), c.mambaDState()), xs[2].view(b, t, c.mambaGroups(), c.mambaDState()), w.d(),
                    cache == null ? null : cache.ssm[i], c.mambaChunkSize());
            y = scan.y();
            if (cache != null) {
                copyInto(conv.state(), cache.conv[i]);
                copyInto(scan.state(), cache.ssm[i]);
            }
        }
        y = y.view(b, t, dSsm);
        Tensor gated = w.mambaNorm() != null
                ? Norms.gatedRmsNorm(y, zxd[0], w.mambaNorm(), c.mambaGroups(), c.rmsNormEps())
                : Arith.mul(y, Activations.silu(zxd[0]));
        return Linalg.linear(gated, w.outProj(), null, numerics);
    }

    /** Attention on {@code h}; {@code inputs} holds its q, k and v projections at 1..3 when already computed, else null. */
    private Tensor attention(int i, FalconH1Layer w, Tensor h, FalconH1Cache cache, int start, Tensor[] inputs) {
        FalconH1Config c = config;
        int b = h.dim(0);
        int t = h.dim(1);
        int hd = c.headDim();
        double theta = c.ropeTheta();
        Tensor qLin = (inputs != null ? inputs[1] : linear(i, "self_attn.q_proj", h, w.q())).view(b, t, c.numAttentionHeads(), hd);
        Tensor kLin = scaled(inputs != null ? inputs[2] : linear(i, "self_attn.k_proj", h, w.k()), mult(c.mup().key())).view(b, t, c.numKeyValueHeads(), hd);
        Tensor v = (inputs != null ? inputs[3] : linear(i, "self_attn.v_proj", h, w.v())).view(b, t, c.numKeyValueHeads(), hd);
        double scale = 1.0 / Math.sqrt(hd);
        if (cache != null && !cache.uniform()) {
            return linear(i, "self_attn.o_proj", raggedStep(i, qLin, kLin, v, cache, scale).view(b, t, c.numAttentionHeads() * hd), w.o());
        }
        Tensor q = Rotary.rope(qLin, start, theta);
        Tensor k = Rotary.rope(kLin, start, theta);
        Tensor o;
        if (cache == null) {
            o = Attentions.causal(q, k, v, scale);
        } else {
            appendRows(k, cache.keys[i], start);
            appendRows(v, cache.values[i], start);
            o = Attentions.cached(q, cache.keys[i], cache.values[i], start + t, scale);
        }
        return linear(i, "self_attn.o_proj", o.view(b, t, c.numAttentionHeads() * hd), w.o());
    }

    /**
     * One token per row for rows at different positions (a batch of sequences that started apart): each row gets
     * its own rotary position, cache slot and attention length.
     */
    private Tensor raggedStep(int i, Tensor qLin, Tensor kLin, Tensor v, FalconH1Cache cache, double scale) {
        double theta = config.ropeTheta();
        Tensor o = Tensor.empty(qLin.device(), DType.F32, qLin.shape());
        long rowBytes = o.storage().byteSize() / o.size(0);
        for (int r = 0; r < qLin.dim(0); r++) {
            int pos = cache.length(r);
            Tensor kc = RowCache.row(cache.keys[i], r);
            Tensor vc = RowCache.row(cache.values[i], r);
            appendRows(Rotary.rope(RowCache.row(kLin, r), pos, theta), kc, pos);
            appendRows(RowCache.row(v, r), vc, pos);
            Tensor or = Attentions.cached(Rotary.rope(RowCache.row(qLin, r), pos, theta), kc, vc, pos + 1, scale);
            Tensor.copyBytes(or, 0, o, r * rowBytes, rowBytes);
        }
        return o;
    }

    /**
     * Writes {@code src (B, T, KV, hd)} into rows {@code [start, start + T)} of {@code cache (B, cap, KV, hd)}, rounded to
     * the cache's element type.
     */
    private static void appendRows(Tensor src, Tensor cache, int start) {
        int b = src.dim(0);
        long row = src.size(2) * src.size(3);
        long t = src.size(1);
        long cap = cache.size(1);
        for (int bb = 0; bb < b; bb++) {
            ai.kestrel.engine.ops.Casts.copyElements(src, bb * t * row, cache, (bb * cap + start) * row, t * row);
        }
    }

    private static void copyInto(Tensor src, Tensor dst) {
        Tensor.copyBytes(src, 0, dst, 0, dst.storage().byteSize());
    }

    /** The device the weights are on. */
    public ai.kestrel.engine.Device device() {
        return embed.device();
    }

    /**
     * This model with every weight on {@code device} (copied into a new scope the returned model owns; this one
     * stays usable), or this model when it is already there. An adapter set on this model is not carried over.
     */
    public FalconH1 to(ai.kestrel.engine.Device device) {
        if (device == device()) {
            return this;
        }
        Scope scope = Scope.detached("falcon-h1 weights on " + device);
        try (Scope.Entered e = scope.enter()) {
            FalconH1Layer[] moved = new FalconH1Layer[layers.length];
            for (int i = 0; i < layers.length; i++) {
                FalconH1Layer l = layers[i];
                moved[i] = new FalconH1Layer(mv(l.inputNorm(), device), mv(l.preFfNorm(), device), mv(l.q(), device),
                        mv(l.k(), device), mv(l.v(), device), mv(l.o(), device), mv(l.inProj(), device), mv(l.conv(), device),
                        mv(l.convBias(), device), mv(l.dtBias(), device), mv(l.a(), device), mv(l.d(), device),
                        mv(l.mambaNorm(), device), mv(l.outProj(), device), mv(l.gate(), device), mv(l.up(), device),
                        mv(l.down(), device));
            }
            FalconH1 copy = new FalconH1(config, folded, mv(embed, device), mv(finalNorm, device), mv(lmHead, device), moved,
                    mv(mupVector, device), scope, source + " on " + device);
            copy.numerics = numerics;
            copy.kvCacheType = kvCacheType;
            return copy;
        }
    }

    private static Tensor mv(Tensor t, ai.kestrel.engine.Device device) {
        return t == null ? null : t.to(device);
    }

    /** Logits of a whole prompt (no cache, no gradient): {@code (T, V)} for one sequence. */
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
    public ai.kestrel.engine.DType kvCacheType() {
        return kvCacheType;
    }

    @Override
    public void setKvCacheType(ai.kestrel.engine.DType type) {
        LanguageModel.super.setKvCacheType(type); // checks it
        this.kvCacheType = type;
    }

    @Override
    public void close() {
        weights.close();
    }
}
