/**
 * Falcon-H1 (attention and a Mamba-2 mixer side by side in every layer) and Falcon-Mamba (Mamba-1).
 * Models arrive in issue #3; this package holds what is shared so far.
 */
package ai.kestrel.model;
