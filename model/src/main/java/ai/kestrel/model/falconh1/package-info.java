/**
 * Falcon-H1: per layer, attention and a Mamba-2 mixer side by side on the same normed input, summed into the
 * residual, then a gated MLP; muP multipliers where Hugging Face's {@code modeling_falcon_h1.py} applies them.
 */
package ai.kestrel.model.falconh1;
