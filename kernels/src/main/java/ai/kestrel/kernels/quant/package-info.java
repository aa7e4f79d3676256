/**
 * Weight storage formats and their scalar codecs: float32/64, IEEE half, bfloat16 and GGUF's Q8_0 block.
 * Kernels read {@link ai.kestrel.kernels.quant.Weights} in their stored format and dequantize inside; the
 * codecs here are the reference for that, and how test data and converted files are made.
 */
package ai.kestrel.kernels.quant;
