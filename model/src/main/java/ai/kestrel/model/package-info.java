/**
 * Falcon-H1 (attention and a Mamba-2 mixer side by side in every layer) and Falcon-Mamba (Mamba-1): loading them
 * and running them.
 *
 * <p>{@link ai.kestrel.model.ModelLoader#load} takes a Hugging Face folder (config.json, safetensors, tokenizer.json)
 * or a GGUF file and returns a {@link ai.kestrel.model.LoadedModel}: the {@link ai.kestrel.model.LanguageModel}
 * (forward passes, with or without a cache of SSM state, conv window and keys/values), its tokenizer, chat
 * template and end-of-text ids. Weights stay in the dtype they are stored in (F32, BF16, F16, Q8_0, NF4), memory-mapped.
 * Generation is in {@code ai.kestrel.model.generate}, LoRA adapters (PEFT's format both ways) in
 * {@code ai.kestrel.model.lora}, the models themselves in {@code falconh1} and {@code falconmamba}, configs in
 * {@code config}, tokenizers and chat templates in {@code tokenizer}; {@link ai.kestrel.model.Quantizer} writes
 * a Hugging Face folder's 4-bit copy as bitsandbytes lays it out (NF4, double quantization).
 *
 * <p>JVM options: {@code --add-modules jdk.incubator.vector} (the kernels), native access for the engine
 * ({@code --enable-native-access=ai.kestrel.engine}, or {@code ALL-UNNAMED} on the class path), and, as
 * {@code ./kestrel} passes them, {@code -XX:GCTimeRatio=1} (a 1.5B-Deep generation then keeps a heap of about
 * 460 MB, not 860: tensors live off it) and {@code -XX:TypeProfileLevel=222} (C2 keeps inlining the Vector API's
 * access to the segments kernels write even when the program also hands that API heap segments: about 6% of a
 * q8_0 prefill). See the README's "Using the engine from Java".
 */
package ai.kestrel.model;
