/* sparse24.h - compressed-tensors "sparse-24-bitmask" checkpoints: 2:4
 * sparse linears as llm-compressor saves them and vLLM loads them
 * (FORMATS-AND-ALGORITHMS.md section 5; FORMAT.md "compressed-tensors
 * sparse-24-bitmask"). Per compressed linear of weight W (out, in), in % 4 == 0:
 *   prefix.shape       I64          [2, 1]              {out, in}
 *   prefix.compressed  F32/F16/BF16 [out, in/2]         the 2 kept values of
 *                      every group of 4 inputs, row-major, ascending column
 *   prefix.bitmask     U8           [out, ceil(in/8)]   input k of a row at
 *                      bit k % 8 of byte k / 8 (numpy bitorder "little"),
 *                      exactly 2 bits per group, unused last bits 0
 *   prefix.bias        (when the linear has one, stored as is)
 * A group with fewer than 2 nonzeros keeps its lowest-column zeros. A linear
 * left dense is a plain prefix.weight and is named in the config's ignore.
 * Layout only: which weights are zero is the pruner's business.
 */
#ifndef QZ_SPARSE24_H
#define QZ_SPARSE24_H

#include "safetensors.h"

/* QZ_OK when in % 4 == 0 and every group of 4 consecutive inputs of every
 * row of w (out, in) holds at most 2 nonzeros (-0.0 is zero, NaN is not);
 * QZ_EINPUT naming the first offending row and group otherwise. */
int qz_sparse24_check(const float *w, int64_t out, int64_t in, qz_error *err);

/* 1 when vLLM's 2:4 scheme can hold a linear of this shape: it allocates
 * bitmask [out, in/8] (integer division) and asserts out % 8 == 0
 * (compressed_tensors_24.py), so in % 8 == 0 and out % 8 == 0. */
int qz_sparse24_vllm_shape_ok(int64_t out, int64_t in);

/* Writes prefix.{shape, compressed, bitmask} of w (out, in) and prefix.bias
 * (out) when bias != NULL; compressed and bias in dtype (F32, F16, BF16).
 * Runs qz_sparse24_check first (QZ_EINPUT naming prefix; nothing written). */
int qz_sparse24_write_linear(qz_st_writer *st, const char *prefix, const float *w, int64_t out, int64_t in,
                             const float *bias, qz_dtype dtype, qz_error *err);

/* Decompresses prefix.* into w (out, in) FP32, checking every tensor's
 * dtype and shape, shape = {out, in}, and exactly 2 mask bits per group
 * (QZ_EINPUT naming the tensor; row and group for a bad mask). Bits past in
 * in the last byte are ignored, as numpy.unpackbits(count=in) does. */
int qz_sparse24_read_linear(qz_tensor_lookup find, void *ctx, const char *prefix, int64_t out, int64_t in, float *w,
                            qz_error *err);

/* config.json's quantization_config for a sparsity-only checkpoint
 * (compressed-tensors ModelCompressor.update_config; no quantization keys):
 *   {"quant_method": "compressed-tensors", "sparsity_config": {
 *     "format": F, "global_sparsity": global_sparsity,
 *     "ignore": ["lm_head", dense...], "sparsity_structure": "2:4",
 *     "targets": ["Linear"] when n_dense == 0, else the compressed names}}
 * F is "sparse-24-bitmask" when bitmask (the legacy layout above), else
 * "dense": every linear is a plain prefix.weight holding the 2:4 zeros, the
 * config only describes them (compressed-tensors' DenseSparsityConfig; what
 * loaders without a sparse decompressor read, FORMAT.md).
 * compressed / dense: full module names ("model.layers.0.mlp.down_proj") of
 * the decoder linears vLLM's 2:4 kernel holds / cannot hold; n_compressed > 0.
 * global_sparsity: fraction of zeros over all parameters (llm-compressor's
 * ModuleSparsificationInfo), informational. Caller owns the result. */
cJSON *qz_sparse24_config_json(int bitmask, double global_sparsity, const char *const *compressed, int n_compressed,
                               const char *const *dense, int n_dense);

/* For a quant_method "compressed-tensors" quantization_config: *sparse_only
 * = 1 when it holds a sparsity_config and no quantization (config_groups
 * absent or empty) - then linears are floating point, stored either as
 * prefix.{shape,compressed,bitmask} or as a plain prefix.weight; 0 when it
 * has no (or an empty) sparsity_config, or a "dense" one, next to
 * quantization. QZ_EINPUT (naming where) for another sparsity format, a
 * sparse-24-bitmask one whose sparsity_structure is not "2:4", or a
 * compressed sparsity format combined with quantization. */
int qz_sparse24_config_parse(const cJSON *qc, const char *where, int *sparse_only, qz_error *err);

#endif
