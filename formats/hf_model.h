/* hf_model.h - a Hugging Face model directory: config.json and the
 * safetensors weights (one file, or shards listed in
 * model.safetensors.index.json), opened lazily; or a LLaMA GGUF file seen
 * as one (gguf_model.h: config.json synthesized from the llama.* keys,
 * tensors under their Hugging Face names as F32, dequantized on demand).
 *
 * Supported model_type: llama, mistral, qwen2 (LLaMA-family decoders). The
 * config is validated here (positive sizes, heads dividing hidden, ...), so
 * the model code can trust it.
 */
#ifndef QZ_HF_MODEL_H
#define QZ_HF_MODEL_H

#include "gguf.h"
#include "safetensors.h"

typedef enum qz_arch {
    QZ_ARCH_LLAMA = 0,
    QZ_ARCH_MISTRAL = 1,
    QZ_ARCH_QWEN2 = 2,
    QZ_ARCH_COUNT
} qz_arch;

const char *qz_arch_name(qz_arch a);

typedef struct qz_rope_scaling {
    int llama3;                 /* rope_scaling.rope_type == "llama3" */
    double factor, low_freq_factor, high_freq_factor;
    int64_t original_max_position;
} qz_rope_scaling;

typedef struct qz_model_config {
    qz_arch arch;
    int64_t hidden;             /* hidden_size */
    int64_t intermediate;       /* intermediate_size */
    int64_t n_layers;           /* num_hidden_layers */
    int64_t n_heads;            /* num_attention_heads */
    int64_t n_kv_heads;         /* num_key_value_heads (default n_heads) */
    int64_t head_dim;           /* head_dim (default hidden / n_heads) */
    int64_t vocab;              /* vocab_size */
    int64_t max_position;       /* max_position_embeddings */
    int64_t sliding_window;     /* 0 = none (mistral / qwen2 use_sliding_window) */
    double rms_eps;             /* rms_norm_eps */
    double rope_theta;
    qz_rope_scaling rope_scaling;
    int tie_embeddings;         /* tie_word_embeddings */
    int qkv_bias;               /* qwen2, or attention_bias */
    int mlp_bias;               /* mlp_bias */
    int32_t bos_id, eos_id;     /* -1 when absent */
    qz_dtype torch_dtype;       /* torch_dtype / dtype, F32 when absent */
} qz_model_config;

struct qz_gguf_entry;

typedef struct qz_hf_model {
    char *dir;                  /* the directory, or the .gguf path given */
    cJSON *config_json;         /* the whole config.json (synthesized for GGUF), owned */
    qz_model_config cfg;
    int n_files;
    qz_st_file **files;         /* the shards (none for GGUF) */
    qz_gguf *gguf;              /* GGUF input, else NULL (gguf_model.h) */
    int64_t n_gguf;
    struct qz_gguf_entry *gguf_entries; /* its tensors under HF names, sorted */
} qz_hf_model;

/* Parses dir/config.json into cfg (QZ_EINPUT with the field and value on any
 * problem). Exposed for tests. */
int qz_model_config_parse(const cJSON *json, const char *path, qz_model_config *cfg, qz_error *err);

/* config.json object for cfg (the fields qz_model_config_parse reads);
 * caller owns it. */
cJSON *qz_model_config_to_json(const qz_model_config *cfg);

/* Opens path: a directory with config.json, then
 * model.safetensors.index.json or model.safetensors; a .gguf file; or a
 * directory without config.json holding exactly one *.gguf. QZ_EINPUT
 * saying what is supported when it is none of these. */
int qz_hf_model_open(qz_hf_model **out, const char *path, qz_error *err);
void qz_hf_model_free(qz_hf_model *m);

/* Which of those path is, without opening it: *is_gguf = 1 and the GGUF
 * file's path in gguf (cap bytes) for a file or a directory without
 * config.json (its one *.gguf); *is_gguf = 0 for a directory with
 * config.json. Errors as qz_hf_model_open (QZ_EINPUT: missing path, no or
 * several .gguf files; QZ_EINTERNAL: the path does not fit). */
int qz_hf_model_locate(const char *path, char *gguf, size_t cap, int *is_gguf, qz_error *err);

/* Finds a tensor in any shard (CRC verified when stored); QZ_EINPUT naming the
 * directory and tensor when missing. For GGUF it dequantizes the tensor
 * into memory the model owns until qz_hf_model_release. */
int qz_hf_model_get(qz_hf_model *m, const char *name, qz_st_tensor **t, qz_error *err);
/* Lookup without checks; NULL when absent. For GGUF, t->data is NULL until
 * qz_hf_model_get; name, dtype (F32), shape, numel and nbytes are set. */
qz_st_tensor *qz_hf_model_find(const qz_hf_model *m, const char *name);
/* Frees what qz_hf_model_get dequantized for t (GGUF; a no-op for
 * safetensors, whose data is the mapping): call it once the tensor is
 * copied, so memory stays at about one tensor. t->data is NULL after. */
void qz_hf_model_release(qz_hf_model *m, qz_st_tensor *t);

/* Every tensor, shard by shard (GGUF: sorted by HF name), i in
 * [0, qz_hf_model_n_tensors). */
int64_t qz_hf_model_n_tensors(const qz_hf_model *m);
qz_st_tensor *qz_hf_model_tensor_at(const qz_hf_model *m, int64_t i);
/* Bytes t occupies in the file and its type there ("F32", "Q4_1", ...):
 * t->nbytes and its dtype for safetensors, the GGUF tensor's for GGUF. */
size_t qz_hf_model_stored_bytes(const qz_hf_model *m, const qz_st_tensor *t);
const char *qz_hf_model_stored_type(const qz_hf_model *m, const qz_st_tensor *t);

/* dir/name into buf; QZ_EINTERNAL when it does not fit. */
int qz_path_join(char *buf, size_t cap, const char *dir, const char *name, qz_error *err);

/* Reads a whole file into a NUL-terminated malloc'd buffer. */
int qz_read_file(const char *path, char **data, size_t *len, qz_error *err);

#endif
