package ai.kestrel.model.lora;

import java.util.List;
import java.util.Set;

/**
 * A LoRA adapter's shape, as PEFT's {@code LoraConfig} names it: rank {@code r}, {@code lora_alpha},
 * {@code lora_dropout}, {@code target_modules} (module names, matched against the last component of a module
 * path) and {@code use_rslora}. Scaling is {@code alpha / r}, or {@code alpha / sqrt(r)} with rsLoRA.
 */
public record LoraConfig(int r, double alpha, double dropout, List<String> targets, boolean rslora) {
    /** The Falcon-H1 modules LoRA may target, and the seed recipe's targets. */
    public static final List<String> FALCON_H1_TARGETS = List.of("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj",
            "down_proj", "in_proj");

    private static final Set<String> REFUSED = Set.of("conv1d", "out_proj");

    public LoraConfig {
        if (r < 1) {
            throw new IllegalArgumentException("LoRA rank r must be >= 1, got " + r);
        }
        if (!(alpha > 0) || Double.isInfinite(alpha)) {
            throw new IllegalArgumentException("lora_alpha must be a positive number, got " + alpha);
        }
        if (!(dropout >= 0 && dropout < 1)) {
            throw new IllegalArgumentException("lora_dropout must be in [0, 1), got " + dropout);
        }
        if (targets == null || targets.isEmpty()) {
            throw new IllegalArgumentException("target_modules is empty; Falcon-H1 takes " + FALCON_H1_TARGETS);
        }
        targets = List.copyOf(targets);
        for (String t : targets) {
            if (t.equals("conv1d")) {
                throw new IllegalArgumentException("target 'conv1d' is refused: the Mamba conv1d is depthwise (weight [C, 1, k]), so a "
                        + "LoRA update B@A of shape [C, C, k] has channel mixing the layer does not have and cannot be merged into it; "
                        + "and the fused Mamba scan reads conv1d.weight raw, so a wrapper would never run");
            }
            if (t.equals("out_proj")) {
                throw new IllegalArgumentException("target 'out_proj' is refused: the fused Mamba scan reads out_proj.weight raw, so a "
                        + "LoRA wrapper on it would never be called (PEFT refuses it for Mamba models too); it also stays unquantized");
            }
            if (!FALCON_H1_TARGETS.contains(t)) {
                throw new IllegalArgumentException("target '" + t + "' is not a Falcon-H1 module LoRA can wrap; choose from "
                        + FALCON_H1_TARGETS);
            }
        }
    }

    /** The recipe of the seed runs: r 16, alpha 32, dropout 0.05, every target. */
    public static LoraConfig seedRecipe() {
        return new LoraConfig(16, 32, 0.05, FALCON_H1_TARGETS, false);
    }

    /** The factor the update {@code B(A(x))} is multiplied by. */
    public double scaling() {
        return rslora ? alpha / Math.sqrt(r) : alpha / r;
    }

    static boolean refused(String t) {
        return REFUSED.contains(t);
    }
}
