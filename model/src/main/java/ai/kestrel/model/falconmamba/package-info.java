/** Falcon-Mamba: a pure Mamba-1 model whose mixer RMS-normalises dt, B and C. */
package ai.kestrel.model.falconmamba;
