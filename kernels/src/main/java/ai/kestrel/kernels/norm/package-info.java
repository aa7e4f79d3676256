/**
 * Normalisations: RMSNorm (Falcon-H1's input/pre-ff/final norms, Falcon-Mamba's norms) and Mamba-2's gated,
 * grouped RMSNorm. Forward and backward, reference and Vector API.
 */
package ai.kestrel.kernels.norm;
