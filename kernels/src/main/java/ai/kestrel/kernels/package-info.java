/**
 * Shared kernel infrastructure and the shape glossary.
 *
 * <h2>Shape glossary</h2>
 * Every kernel parameter is documented with its shape in these letters, row-major, last index fastest:
 * <ul>
 *   <li>{@code B} batch, {@code T} sequence length (time), {@code M} rows of a matrix product ({@code B*T})</li>
 *   <li>{@code D} model width (hidden size) or the width of the normalised dimension</li>
 *   <li>{@code K} reduction (input) width of a matrix product, {@code N} its output width</li>
 *   <li>{@code H} heads (attention query heads, or Mamba-2 SSM heads), {@code KV} key/value heads</li>
 *   <li>{@code P} head dimension (Mamba-2 {@code mamba_d_head}, attention {@code head_dim})</li>
 *   <li>{@code N} also Mamba {@code d_state} in SSM kernels (documented per kernel)</li>
 *   <li>{@code G} Mamba-2 groups ({@code mamba_n_groups}); head {@code h} reads group {@code h / (H / G)}</li>
 *   <li>{@code L} chunk length of the chunked SSD scan ({@code mamba_chunk_size})</li>
 *   <li>{@code C} channels of the depthwise conv1d, {@code W} its window ({@code d_conv}, 4 in Falcon)</li>
 *   <li>{@code V} vocabulary size</li>
 * </ul>
 *
 * <h2>Buffers</h2>
 * Activations travel as {@link ai.kestrel.kernels.Buf}: a flat float32 or float64 memory segment. {@code *Cpu}
 * kernels accept float32 only; {@code *Ref} kernels accept both and accumulate in double, so the engine runs
 * its gradient checks in float64 through them. Segments handed to multi-threaded kernels must be accessible
 * from other threads (global, automatic or shared arenas, never confined ones).
 */
package ai.kestrel.kernels;
