/* export.c - model directories out of the pipeline (see export.h). */
#include "export.h"

#include "gguf_quants.h"
#include "gguf_tokenizer.h"

#include <string.h>

int qz_export_open(qz_export **out, const qz_model *m, const char *out_dir, int force, qz_error *err)
{
    *out = NULL;
    int rc = qz_artifact_check_target(out_dir, m->hf->dir, force, err);
    if (rc) return rc;
    qz_export *ex = calloc(1, sizeof *ex);
    if (!ex) return qz_fail(err, QZ_EINTERNAL, "out of memory");
    ex->m = m;
    const qz_st_tensor *emb = qz_hf_model_find(m->hf, "model.embed_tokens.weight");
    ex->fp_dtype = emb ? emb->dtype : QZ_DTYPE_F16;
    char path[4096];
    rc = qz_artifact_open(&ex->art, out_dir, force, err);
    if (rc == QZ_OK) rc = qz_artifact_path(ex->art, "model.safetensors", path, sizeof path, err);
    if (rc == QZ_OK) rc = qz_st_writer_open(&ex->st, path, err);
    if (rc) {
        qz_export_free(ex);
        return rc;
    }
    *out = ex;
    return QZ_OK;
}

int qz_export_gguf(qz_export *ex, const qz_gguf_plan *plan, qz_error *err)
{
    char path[4096];
    qz_st_writer_free(ex->st); /* removes its temporary files */
    ex->st = NULL;
    int rc = qz_artifact_path(ex->art, "model.gguf", path, sizeof path, err);
    return rc ? rc : qz_gguf_out_open(&ex->gguf, ex->m, plan, path, err);
}

/* One qz-log.jsonl line per linear of a GGUF output: its ggml type. */
static int log_gguf(qz_export *ex, const qz_module_report *r, const qz_quant_result *q, qz_error *err)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "layer", (double)r->layer);
    cJSON_AddStringToObject(j, "module", qz_linear_name(r->id));
    cJSON_AddBoolToObject(j, "quantized", q != NULL);
    cJSON_AddStringToObject(j, "ggml_type", q ? qz_ggml_type_name(q->ggml_type) : "FP (F16/F32 in the file)");
    cJSON_AddStringToObject(j, "method", qz_quant_method_name(r->method));
    if (q) cJSON_AddNumberToObject(j, "loss", r->loss);
    cJSON_AddNumberToObject(j, "seconds", r->seconds);
    int rc = qz_artifact_log(ex->art, j, err);
    cJSON_Delete(j);
    return rc;
}

static int gguf_write_layer(qz_export *ex, const qz_layer *L, const qz_quant_result *const q[QZ_LIN_COUNT],
                            const qz_module_report rep[QZ_LIN_COUNT], qz_error *err)
{
    int rc = qz_gguf_out_layer(ex->gguf, L, q, err);
    for (int id = 0; id < QZ_LIN_COUNT && rc == QZ_OK; id++) rc = log_gguf(ex, &rep[id], q[id] && q[id]->blocks ? q[id] : NULL, err);
    return rc;
}

static int write_norms(qz_export *ex, const qz_layer *L, qz_error *err)
{
    char name[256];
    const int64_t *d = &ex->m->cfg.hidden;
    snprintf(name, sizeof name, "model.layers.%lld.input_layernorm.weight", (long long)L->index);
    int rc = qz_st_writer_add_f32(ex->st, name, L->attn_norm, 1, d, ex->fp_dtype, err);
    snprintf(name, sizeof name, "model.layers.%lld.post_attention_layernorm.weight", (long long)L->index);
    return rc ? rc : qz_st_writer_add_f32(ex->st, name, L->mlp_norm, 1, d, ex->fp_dtype, err);
}

static void linear_prefix(char *buf, size_t cap, const qz_layer *L, qz_linear_id id)
{
    snprintf(buf, cap, "model.layers.%lld.%s", (long long)L->index, qz_linear_name(id));
}

static int write_linear_fp(qz_export *ex, const qz_layer *L, qz_linear_id id, qz_error *err)
{
    char prefix[256], name[300];
    const qz_linear *l = &L->lin[id];
    int64_t shape[2] = {l->out, l->in};
    linear_prefix(prefix, sizeof prefix, L, id);
    snprintf(name, sizeof name, "%s.weight", prefix);
    int rc = qz_st_writer_add_f32(ex->st, name, l->w, 2, shape, ex->fp_dtype, err);
    snprintf(name, sizeof name, "%s.bias", prefix);
    if (rc == QZ_OK && l->bias) rc = qz_st_writer_add_f32(ex->st, name, l->bias, 1, &l->out, ex->fp_dtype, err);
    return rc;
}

static int write_sparse24(qz_export *ex, const qz_layer *L, int id, qz_error *err)
{
    char prefix[256];
    const qz_linear *l = &L->lin[id];
    linear_prefix(prefix, sizeof prefix, L, (qz_linear_id)id);
    return qz_sparse24_write_linear(ex->st, prefix, l->w, l->out, l->in, l->bias, ex->fp_dtype, err);
}

static int log_module(qz_export *ex, const qz_module_report *r, const qz_linear *l, int bits, int64_t gs, qz_error *err)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "layer", (double)r->layer);
    cJSON_AddStringToObject(j, "module", qz_linear_name(r->id));
    cJSON_AddBoolToObject(j, "quantized", r->quantized && bits < 16);
    cJSON_AddNumberToObject(j, "bits", r->quantized ? bits : 16);
    if (r->quantized && bits < 16) cJSON_AddNumberToObject(j, "group_size", (double)gs);
    cJSON_AddStringToObject(j, "method", qz_quant_method_name(r->method));
    if (r->method == QZ_QUANT_SMOOTH) {
        if (r->sq_alpha >= 0) {
            cJSON_AddNumberToObject(j, "alpha", r->sq_alpha);
            cJSON_AddNumberToObject(j, "act_max_before", r->sq_act_max[0]);
            cJSON_AddNumberToObject(j, "act_max_after", r->sq_act_max[1]);
            cJSON_AddNumberToObject(j, "weight_max_before", r->sq_w_max[0]);
            cJSON_AddNumberToObject(j, "weight_max_after", r->sq_w_max[1]);
        }
    } else if (r->method == QZ_QUANT_AWQ) {
        if (r->awq_ratio >= 0) {
            cJSON_AddNumberToObject(j, "scale_ratio", r->awq_ratio);
            cJSON_AddNumberToObject(j, "loss_before", r->awq_loss_before);
            cJSON_AddNumberToObject(j, "loss_after", r->loss);
        }
        cJSON_AddNumberToObject(j, "clip_ratio", r->awq_clip);
    } else if (r->quantized || r->method == QZ_QUANT_SPARSEGPT) {
        cJSON_AddNumberToObject(j, "damp", r->damp_used);
        cJSON_AddNumberToObject(j, "loss", r->loss);
    }
    if (r->pruned) {
        cJSON_AddNumberToObject(j, r->method == QZ_QUANT_STRUCTURED ? "removed" : "sparsity", r->sparsity);
        cJSON_AddItemToObject(j, "shape", cJSON_CreateIntArray((const int[]){(int)l->out, (int)l->in}, 2));
    }
    cJSON_AddNumberToObject(j, "seconds", r->seconds);
    int rc = qz_artifact_log(ex->art, j, err);
    cJSON_Delete(j);
    return rc;
}

/* int8 = code - 128 (the sink's convention for symmetric 8-bit). */
static int write_ct(qz_export *ex, const char *prefix, const qz_linear *l, const qz_quant_result *q, qz_error *err)
{
    int8_t *w = qz_malloc_array((size_t)(l->out * l->in), 1);
    if (!w) return qz_fail(err, QZ_EINTERNAL, "out of memory writing %s", prefix);
    for (int64_t i = 0; i < l->out * l->in; i++) w[i] = (int8_t)(q->codes[i] - 128);
    int rc = qz_ct_write_linear(ex->st, prefix, w, q->scales, l->out, l->in, l->bias, QZ_DTYPE_F32, &ex->ct, err);
    free(w);
    return rc;
}

int qz_export_sparse24_ok(const qz_model_config *cfg, qz_linear_id id)
{
    for (int j = 0; j < QZ_LIN_COUNT; j++)
        if (j == (int)id || (id != QZ_LIN_O && id != QZ_LIN_DOWN && qz_linear_site((qz_linear_id)j) == qz_linear_site(id)))
            if (!qz_sparse24_vllm_shape_ok(qz_linear_out(cfg, (qz_linear_id)j), qz_linear_in(cfg, (qz_linear_id)j))) return 0;
    return 1;
}

static int write_quantized(qz_export *ex, const qz_layer *L, qz_linear_id id, const qz_quant_result *q, qz_error *err)
{
    const qz_linear *l = &L->lin[id];
    char prefix[256];
    linear_prefix(prefix, sizeof prefix, L, id);
    if (ex->format == QZ_EXPORT_CT) return write_ct(ex, prefix, l, q, err);
    if (ex->format == QZ_EXPORT_AWQ)
        return qz_awq_write_linear(ex->st, prefix, q->codes, q->scales, q->zeros, l->out, l->in, l->bias, ex->fp_dtype, &ex->awq,
                                   err);
    return qz_gptq_write_linear(ex->st, prefix, q->codes, q->scales, q->zeros, q->g_idx, q->n_groups, l->out, l->in, l->bias,
                                ex->fp_dtype, &ex->gptq, err);
}

static int sink_write_layer(void *ctx, const qz_layer *L, const qz_quant_result *const q[QZ_LIN_COUNT],
                            const qz_module_report rep[QZ_LIN_COUNT], qz_error *err)
{
    qz_export *ex = ctx;
    if (ex->gguf) return gguf_write_layer(ex, L, q, rep, err);
    int bits = ex->format == QZ_EXPORT_AWQ ? ex->awq.bits : ex->format == QZ_EXPORT_CT ? ex->ct.weight_bits
               : ex->format == QZ_EXPORT_SPARSE24 ? 16 : ex->gptq.bits;
    int64_t gs = ex->format == QZ_EXPORT_AWQ ? ex->awq.group_size : ex->format == QZ_EXPORT_CT ? -1 : ex->gptq.group_size;
    int rc = write_norms(ex, L, err);
    for (int id = 0; id < QZ_LIN_COUNT && rc == QZ_OK; id++) {
        if (q[id] && ex->format != QZ_EXPORT_FP) rc = write_quantized(ex, L, (qz_linear_id)id, q[id], err);
        else if (ex->format == QZ_EXPORT_SPARSE24 && qz_export_sparse24_ok(&ex->m->cfg, (qz_linear_id)id)) rc = write_sparse24(ex, L, id, err);
        else rc = write_linear_fp(ex, L, (qz_linear_id)id, err);
        if (rc == QZ_OK) rc = log_module(ex, &rep[id], &L->lin[id], ex->format == QZ_EXPORT_FP ? 16 : bits, gs, err);
    }
    return rc;
}

qz_quant_sink qz_export_sink(qz_export *ex, qz_export_format format, const qz_gptq_config *gptq, const qz_awq_config *awq,
                             const qz_ct_config *ct)
{
    ex->format = format;
    if (gptq) ex->gptq = *gptq;
    if (awq) ex->awq = *awq;
    if (ct) ex->ct = *ct;
    return (qz_quant_sink){.ctx = ex, .write_layer = sink_write_layer};
}

int qz_export_add_f32(qz_export *ex, const char *name, const float *x, int ndim, const int64_t *shape, qz_error *err)
{
    char **own = realloc(ex->own, (size_t)(ex->n_own + 1) * sizeof *own);
    if (!own) return qz_fail(err, QZ_EINTERNAL, "out of memory");
    ex->own = own;
    if (!(own[ex->n_own] = strdup(name))) return qz_fail(err, QZ_EINTERNAL, "out of memory");
    ex->n_own++;
    return qz_st_writer_add_f32(ex->st, name, x, ndim, shape, ex->fp_dtype, err);
}

static int written_here(const qz_export *ex, const char *name)
{
    for (int i = 0; i < ex->n_own; i++)
        if (!strcmp(ex->own[i], name)) return 1;
    return 0;
}

/* Every tensor outside model.layers.* goes over unchanged, unless given by qz_export_add_f32. */
static int copy_untouched(qz_export *ex, qz_error *err)
{
    qz_hf_model *hf = ex->m->hf;
    int rc = QZ_OK;
    for (int64_t i = 0; i < qz_hf_model_n_tensors(hf) && rc == QZ_OK; i++) {
        qz_st_tensor *t = qz_hf_model_tensor_at(hf, i);
        if (strncmp(t->name, "model.layers.", 13) == 0 || written_here(ex, t->name)) continue;
        rc = qz_hf_model_get(hf, t->name, &t, err); /* verifies a stored CRC; GGUF: dequantizes */
        if (rc == QZ_OK) rc = qz_st_writer_add(ex->st, t->name, t->dtype, t->ndim, t->shape, t->data, t->nbytes, err);
        qz_hf_model_release(hf, t);
    }
    return rc;
}

/* Replaces (or adds) every item of patch in cfg. */
static int apply_patch(cJSON *cfg, const cJSON *patch, qz_error *err)
{
    for (const cJSON *it = patch ? patch->child : NULL; it; it = it->next) {
        cJSON *dup = cJSON_Duplicate(it, 1);
        if (!dup) return qz_fail(err, QZ_EINTERNAL, "out of memory");
        cJSON_DeleteItemFromObjectCaseSensitive(cfg, it->string);
        cJSON_AddItemToObject(cfg, it->string, dup);
    }
    return QZ_OK;
}

/* The input's tokenizer files, or for a GGUF input tokenizer.json and
 * tokenizer_config.json made from its metadata (formats/gguf_tokenizer.h). */
static int write_tokenizer(qz_export *ex, qz_error *err)
{
    static const char *tok_files[] = {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                                      "generation_config.json", "tokenizer.model"};
    const qz_hf_model *hf = ex->m->hf;
    cJSON *tj = NULL, *tc = NULL;
    int rc = hf->gguf ? qz_gguf_tokenizer_files(hf->gguf, &tj, &tc, err) : QZ_OK;
    if (rc == QZ_OK && hf->gguf) rc = qz_artifact_write_json(ex->art, "tokenizer.json", tj, err);
    if (rc == QZ_OK && hf->gguf) rc = qz_artifact_write_json(ex->art, "tokenizer_config.json", tc, err);
    for (size_t i = 0; i < sizeof tok_files / sizeof *tok_files && rc == QZ_OK && !hf->gguf; i++)
        rc = qz_artifact_copy_if_present(ex->art, hf->dir, tok_files[i], err);
    cJSON_Delete(tj), cJSON_Delete(tc);
    return rc;
}

int qz_export_finish(qz_export *ex, const cJSON *quant_config, const cJSON *config_patch, qz_error *err)
{
    if (ex->gguf) {
        int rc = qz_gguf_out_finish(ex->gguf, err);
        return rc ? rc : qz_artifact_commit(ex->art, err);
    }
    int rc = copy_untouched(ex, err);
    if (rc == QZ_OK) rc = qz_st_writer_finish(ex->st, err);
    cJSON *cfg = cJSON_Duplicate(ex->m->hf->config_json, 1);
    if (rc == QZ_OK && !cfg) rc = qz_fail(err, QZ_EINTERNAL, "out of memory");
    if (rc == QZ_OK) rc = apply_patch(cfg, config_patch, err);
    if (rc == QZ_OK && !quant_config) /* e.g. a sparse-24 input written dense: its layout no longer applies */
        cJSON_DeleteItemFromObjectCaseSensitive(cfg, "quantization_config");
    if (rc == QZ_OK && quant_config) {
        cJSON_DeleteItemFromObjectCaseSensitive(cfg, "quantization_config");
        cJSON_AddItemToObject(cfg, "quantization_config", cJSON_Duplicate(quant_config, 1));
        rc = qz_artifact_write_json(ex->art, "quantize_config.json", quant_config, err);
    }
    if (rc == QZ_OK) rc = qz_artifact_write_json(ex->art, "config.json", cfg, err);
    cJSON_Delete(cfg);
    if (rc == QZ_OK) rc = write_tokenizer(ex, err);
    if (rc == QZ_OK) rc = qz_artifact_commit(ex->art, err);
    return rc;
}

void qz_export_free(qz_export *ex)
{
    if (!ex) return;
    qz_gguf_out_free(ex->gguf);
    qz_st_writer_free(ex->st);
    qz_artifact_free(ex->art);
    for (int i = 0; i < ex->n_own; i++) free(ex->own[i]);
    free(ex->own);
    free(ex);
}
