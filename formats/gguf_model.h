/* gguf_model.h - a LLaMA-architecture GGUF file as a qz_hf_model (used by
 * hf_model.c; docs/formats-gguf.md).
 *
 * config.json is synthesized from the llama.* keys and parsed by
 * qz_model_config_parse, so it is validated like a real one and an export
 * writes it out. Tensors appear under their Hugging Face names as F32
 * (token_embd -> model.embed_tokens, blk.N.attn_q -> model.layers.N.
 * self_attn.q_proj, ...; ne reversed into HF's row-major shape), each
 * dequantized when first asked for and freed by qz_hf_model_release. The
 * q_proj / k_proj rows (and biases) are un-permuted from llama.cpp's rotary
 * order back to Hugging Face's rotate-half order: convert_hf_to_gguf writes
 * row h*hd + 2j + i from HF row h*hd + i*hd/2 + j (i in {0, 1}, j < hd/2,
 * n_head heads for q, n_head_kv for k), and reading inverts it.
 *
 * Refused (QZ_EINPUT, one line): general.architecture other than llama,
 * rope scaling, experts, a rope dimension other than head_dim, a tensor
 * without a known HF counterpart.
 */
#ifndef QZ_GGUF_MODEL_H
#define QZ_GGUF_MODEL_H

#include "hf_model.h"

/* Opens the GGUF at path into m (m->dir already set): m->gguf, config_json,
 * cfg and the tensor entries. On failure m keeps what it has for
 * qz_gguf_model_free. */
int qz_gguf_model_open(qz_hf_model *m, const char *path, qz_error *err);
void qz_gguf_model_free(qz_hf_model *m);

qz_st_tensor *qz_gguf_model_find(const qz_hf_model *m, const char *name);
qz_st_tensor *qz_gguf_model_tensor_at(const qz_hf_model *m, int64_t i);
/* Dequantizes (and un-permutes) t into t->data unless already there. */
int qz_gguf_model_materialize(qz_hf_model *m, qz_st_tensor *t, qz_error *err);
void qz_gguf_model_release(qz_st_tensor *t);
/* llama.cpp's name of Hugging Face tensor hf ("model.layers.3.self_attn.
 * q_proj.weight" -> "blk.3.attn_q.weight") into out; *permute 1 for q
 * (rows to permute with n_heads), 2 for k (n_kv_heads), 0 else. -1 when hf
 * has no GGUF counterpart or out is too small. */
int qz_gguf_name_from_hf(const char *hf, char *out, size_t cap, int *permute);

/* The GGUF tensor behind t. */
const qz_gguf_tensor *qz_gguf_model_source(const qz_st_tensor *t);

#endif
