/* export.h - writes a transformed model as a Hugging Face directory, layer by
 * layer as the pipeline finishes them, into an atomic artifact
 * (formats/artifact.h): model.safetensors, config.json (the input's, plus a
 * quantization_config when given), the tokenizer files, qz-log.jsonl.
 *
 * Floating-point tensors are written in the input's dtype (that of
 * model.embed_tokens.weight); tensors outside the decoder layers
 * (embeddings, final norm, lm_head) are copied byte for byte.
 */
#ifndef QZ_EXPORT_H
#define QZ_EXPORT_H

#include "artifact.h"
#include "awq_pack.h"
#include "ct_ckpt.h"
#include "export_gguf.h"
#include "quantize.h"

/* How quantized linears are stored. */
typedef enum qz_export_format {
    QZ_EXPORT_FP = 0,      /* floating point only (codes ignored): smoothed, scaled, pruned models */
    QZ_EXPORT_GPTQ = 1,    /* qweight/qzeros/scales/g_idx, FORMAT.md */
    QZ_EXPORT_AWQ = 2,     /* AutoAWQ GEMM */
    QZ_EXPORT_CT = 3,      /* compressed-tensors int-quantized: int8 weight = code - 128, F32 per-row scales */
    QZ_EXPORT_SPARSE24 = 4, /* compressed-tensors sparse-24-bitmask for the linears qz_export_sparse24_ok, FP else */
    QZ_EXPORT_FORMAT_COUNT
} qz_export_format;

typedef struct qz_export {
    const qz_model *m;
    qz_artifact *art;
    qz_st_writer *st;
    qz_dtype fp_dtype;
    qz_export_format format; /* for the sink */
    qz_gptq_config gptq;
    qz_awq_config awq;
    qz_ct_config ct;
    qz_gguf_out *gguf;       /* GGUF output (qz_export_gguf), else NULL */
    char **own;      /* tensors written with qz_export_add_f32 (not copied) */
    int n_own;
} qz_export;

int qz_export_open(qz_export **out, const qz_model *m, const char *out_dir, int force, qz_error *err);

/* 1 when QZ_EXPORT_SPARSE24 writes linear id compressed: vLLM's 2:4 scheme
 * holds its shape and that of every linear fused with it (q/k/v, gate/up),
 * since vLLM gives a fused layer the scheme only when all its parts have it.
 * The others are written dense and belong in the config's ignore list. */
int qz_export_sparse24_ok(const qz_model_config *cfg, qz_linear_id id);
/* A sink for quantize.h / awq.h writing each layer in format (gptq / awq:
 * the matching config; the other may be NULL) and logging every module to
 * qz-log.jsonl. */
qz_quant_sink qz_export_sink(qz_export *ex, qz_export_format format, const qz_gptq_config *gptq, const qz_awq_config *awq,
                             const qz_ct_config *ct);
/* Makes ex write one GGUF file, OUT/model.gguf, typed by plan (which must
 * outlive ex), instead of model.safetensors + config + tokenizer files
 * (export_gguf.h); qz-log.jsonl is still written. Call before the sink. */
int qz_export_gguf(qz_export *ex, const qz_gguf_plan *plan, qz_error *err);
/* Writes a tensor given in FP32 (e.g. a trained embedding) in the export's
 * floating-point dtype; qz_export_finish then does not copy the input's
 * tensor of that name. */
int qz_export_add_f32(qz_export *ex, const char *name, const float *x, int ndim, const int64_t *shape, qz_error *err);

/* Copies the untouched tensors and the tokenizer files, writes config.json
 * (the input's with every item of config_patch replacing its namesake, when
 * not NULL - e.g. the smaller shapes of a structurally pruned model - and
 * with quant_config as "quantization_config" when not NULL, also written as
 * quantize_config.json) and commits. Neither JSON is consumed. */
int qz_export_finish(qz_export *ex, const cJSON *quant_config, const cJSON *config_patch, qz_error *err);
void qz_export_free(qz_export *ex); /* removes everything unless finished */

#endif
