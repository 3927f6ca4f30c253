/* export_gguf.h - a transformed model as one GGUF v3 file for llama.cpp
 * (docs/gguf-out.md): which ggml type each tensor gets (the plan), and the
 * writer the export sink drives layer by layer (formats/gguf_write.h).
 *
 * Types (qz_gguf_plan_type): 1-D tensors (norms) F32; otherwise the first
 * --gguf-type-map rule whose regex matches the GGUF tensor name
 * ("blk.3.attn_v.weight", "token_embd.weight", "output.weight"); else the
 * base type for decoder linears and F16 for token_embd / output (copied,
 * not quantized, unless a rule names them). A type whose block does not
 * divide the row length falls back as llama-quantize does: Q4_K -> Q5_0,
 * Q5_K -> Q5_1, Q6_K -> Q8_0, and a 32-element type -> F16.
 * Presets: "Q4_K_M" / "Q5_K_M" = base Q4_K / Q5_K plus the rules of
 * llama.cpp's llama-quant.cpp for them on dense LLaMA models: output (or
 * token_embd when the embeddings are tied) Q6_K, and attn_v and ffn_down
 * Q6_K in the layers use_more_bits picks (the first and last eighth and
 * every third layer between); the user's rules come before them.
 *
 * Tensors are laid out token_embd, then per layer attn_norm, attn_q,
 * attn_k, attn_v, attn_output, ffn_norm, ffn_gate, ffn_up, ffn_down, then
 * output_norm and output (untied only); q/k rows are permuted into
 * llama.cpp's rotary order (the inverse of gguf_model.h's un-permute).
 * Metadata: a GGUF input's key/values are copied (tokenizer, chat template,
 * general.*) except general.alignment, general.file_type and
 * general.quantization_version, which are set (file_type from the plan,
 * quantization_version 2); a Hugging Face input gets the llama.* keys from
 * its config and the tokenizer.ggml.* keys from its tokenizer.json and
 * tokenizer_config.json (formats/gguf_tokenizer.h qz_gguf_tokenizer_to_kv).
 */
#ifndef QZ_EXPORT_GGUF_H
#define QZ_EXPORT_GGUF_H

#include "model.h"
#include "quant_grid.h"

#define QZ_GGUF_MAX_RULES 64

typedef struct qz_gguf_plan {
    int base_type;       /* decoder linears without a rule */
    int file_type;       /* general.file_type (llama_ftype) */
    int n_rules;
    void *re[QZ_GGUF_MAX_RULES];   /* pcre2_code_8 * */
    int rule_type[QZ_GGUF_MAX_RULES];
    int64_t n_layers;
    int8_t *lin;         /* (n_layers, QZ_LIN_COUNT) resolved type of each linear */
    int8_t *lin_wanted;  /* the same before the block-size fallback */
} qz_gguf_plan;

/* type: a ggml type name qz writes ("Q4_K", "q8_0", "F16") or a preset
 * ("Q4_K_M", "Q5_K_M"); map: "regex=TYPE,..." or NULL (regexes cannot hold
 * ','). QZ_EINPUT naming the bad type or rule; the architecture must be
 * llama without biases. */
int qz_gguf_plan_init(qz_gguf_plan *p, const qz_model_config *cfg, const char *type, const char *map, qz_error *err);
void qz_gguf_plan_free(qz_gguf_plan *p);
/* The type of GGUF tensor name (n_dims, ne0 = row length); *wanted (may
 * be NULL) the type before the fallback. */
int qz_gguf_plan_type(const qz_gguf_plan *p, const char *name, int n_dims, int64_t ne0, int *wanted);

typedef struct qz_gguf_out qz_gguf_out;

/* Declares every tensor of m under plan, writes the metadata, opens path. */
int qz_gguf_out_open(qz_gguf_out **out, const qz_model *m, const qz_gguf_plan *plan, const char *path, qz_error *err);
/* A finished layer: norms, and each linear from q[id]'s blocks when it was
 * quantized onto a ggml grid (ggml_grid.h; packed here), else from its FP
 * weights by round to nearest onto the plan's type. */
int qz_gguf_out_layer(qz_gguf_out *g, const qz_layer *L, const qz_quant_result *const q[QZ_LIN_COUNT], qz_error *err);
/* token_embd, output_norm, output from m; then the file is complete. */
int qz_gguf_out_finish(qz_gguf_out *g, qz_error *err);
void qz_gguf_out_free(qz_gguf_out *g); /* removes the file unless finished */

#endif
