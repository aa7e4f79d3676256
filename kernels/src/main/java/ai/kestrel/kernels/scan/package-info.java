/** Mamba-1 selective scan (Falcon-Mamba): forward, backward and the one-token recurrence. */
package ai.kestrel.kernels.scan;
