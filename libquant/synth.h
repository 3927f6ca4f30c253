/* synth.h - synthetic LLaMA checkpoints with random weights, for tests and
 * benchmarks that need a model of given shapes (no tokenizer is written). */
#ifndef QZ_SYNTH_H
#define QZ_SYNTH_H

#include "hf_model.h"

/* Writes dir/config.json and dir/model.safetensors (cfg->torch_dtype: F32,
 * F16 or BF16). Weights ~ N(0, 1/sqrt(in_features)), norms ~ 1 + N(0, 0.05),
 * from SplitMix64 seeded with seed. dir must exist. */
int qz_synth_write(const char *dir, const qz_model_config *cfg, uint64_t seed, qz_error *err);

#endif
