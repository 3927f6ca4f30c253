/* ct_ckpt.c - compressed-tensors int-quantized tensors and config (see
 * ct_ckpt.h); element and scale indices from pack_index.h, shared with the
 * CUDA W8A8 kernel. Leaves out: pack-quantized, sparsity configs, float8. */
#include "ct_ckpt.h"

#include "half.h"
#include "pack_index.h"

#include <string.h>

int qz_ct_write_linear(qz_st_writer *w, const char *prefix, const int8_t *q, const float *scales, int64_t out, int64_t in,
                       const float *bias, qz_dtype scale_dtype, const qz_ct_config *c, qz_error *err)
{
    char name[512];
    int64_t wshape[2] = {out, in}, sshape[2] = {c->weight_per_channel ? out : 1, 1};
    snprintf(name, sizeof name, "%s.weight", prefix);
    int rc = qz_st_writer_add(w, name, QZ_DTYPE_I8, 2, wshape, q, (size_t)(out * in), err);
    snprintf(name, sizeof name, "%s.weight_scale", prefix);
    if (rc == QZ_OK)
        rc = qz_st_writer_add_f32(w, name, scales, c->weight_per_channel ? 2 : 1, c->weight_per_channel ? sshape : &sshape[1],
                                  scale_dtype, err);
    snprintf(name, sizeof name, "%s.bias", prefix);
    if (rc == QZ_OK && bias) rc = qz_st_writer_add_f32(w, name, bias, 1, &out, scale_dtype, err);
    return rc;
}

static cJSON *quant_args(int bits, const char *strategy, int dynamic)
{
    cJSON *a = cJSON_CreateObject();
    cJSON_AddNumberToObject(a, "num_bits", bits);
    cJSON_AddStringToObject(a, "type", "int");
    cJSON_AddBoolToObject(a, "symmetric", 1);
    cJSON_AddNullToObject(a, "group_size");
    cJSON_AddStringToObject(a, "strategy", strategy);
    cJSON_AddNullToObject(a, "block_structure");
    cJSON_AddBoolToObject(a, "dynamic", dynamic);
    cJSON_AddNullToObject(a, "actorder");
    cJSON_AddStringToObject(a, "observer", dynamic ? "memoryless" : "minmax");
    return a;
}

cJSON *qz_ct_config_json(const qz_ct_config *c, const char *const *ignore, int n_ignore)
{
    cJSON *j = cJSON_CreateObject(), *groups = cJSON_CreateObject(), *g = cJSON_CreateObject();
    cJSON *targets = cJSON_AddArrayToObject(g, "targets");
    cJSON_AddItemToArray(targets, cJSON_CreateString("Linear"));
    cJSON_AddItemToObject(g, "weights", quant_args(c->weight_bits, c->weight_per_channel ? "channel" : "tensor", 0));
    if (c->act_bits) cJSON_AddItemToObject(g, "input_activations", quant_args(c->act_bits, c->act_per_token ? "token" : "tensor", 1));
    else cJSON_AddNullToObject(g, "input_activations");
    cJSON_AddNullToObject(g, "output_activations");
    cJSON_AddStringToObject(g, "format", "int-quantized");
    cJSON_AddItemToObject(groups, "group_0", g);
    cJSON_AddItemToObject(j, "config_groups", groups);
    cJSON_AddStringToObject(j, "format", "int-quantized");
    cJSON_AddNullToObject(j, "global_compression_ratio");
    cJSON *ign = cJSON_AddArrayToObject(j, "ignore");
    cJSON_AddItemToArray(ign, cJSON_CreateString("lm_head"));
    for (int i = 0; i < n_ignore; i++) cJSON_AddItemToArray(ign, cJSON_CreateString(ignore[i]));
    cJSON_AddNullToObject(j, "kv_cache_scheme");
    cJSON_AddStringToObject(j, "quant_method", "compressed-tensors");
    cJSON_AddStringToObject(j, "quantization_status", "compressed");
    return j;
}

/* num_bits, symmetric int with a strategy among the two allowed. */
static int parse_args(const cJSON *a, const char *where, const char *what, const char *per, const char *whole, int *bits,
                      int *per_flag, qz_error *err)
{
    const cJSON *nb = cJSON_GetObjectItemCaseSensitive(a, "num_bits");
    const cJSON *ty = cJSON_GetObjectItemCaseSensitive(a, "type");
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(a, "strategy");
    if (!cJSON_IsNumber(nb) || nb->valueint < 2 || nb->valueint > 8 || (cJSON_IsString(ty) && strcmp(ty->valuestring, "int")) ||
        cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(a, "symmetric")) || !cJSON_IsString(st) ||
        (strcmp(st->valuestring, per) && strcmp(st->valuestring, whole)))
        return qz_fail(err, QZ_EINPUT, "%s: %s: only symmetric int (2-8 bits) with strategy %s or %s is supported", where, what,
                       per, whole);
    *bits = nb->valueint;
    *per_flag = !strcmp(st->valuestring, per);
    return QZ_OK;
}

int qz_ct_config_parse(const cJSON *qc, const char *where, qz_ct_config *c, qz_error *err)
{
    memset(c, 0, sizeof *c);
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(qc, "format");
    const cJSON *groups = cJSON_GetObjectItemCaseSensitive(qc, "config_groups");
    if (!cJSON_IsString(fmt) || strcmp(fmt->valuestring, "int-quantized") || !cJSON_IsObject(groups) ||
        cJSON_GetArraySize(groups) != 1)
        return qz_fail(err, QZ_EINPUT, "%s: compressed-tensors: only format \"int-quantized\" with one config group is supported", where);
    const cJSON *g = groups->child;
    int rc = parse_args(cJSON_GetObjectItemCaseSensitive(g, "weights"), where, "weights", "channel", "tensor", &c->weight_bits,
                        &c->weight_per_channel, err);
    const cJSON *act = cJSON_GetObjectItemCaseSensitive(g, "input_activations");
    if (rc == QZ_OK && cJSON_IsObject(act)) {
        rc = parse_args(act, where, "input_activations", "token", "tensor", &c->act_bits, &c->act_per_token, err);
        if (rc == QZ_OK && !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(act, "dynamic")))
            rc = qz_fail(err, QZ_EINPUT, "%s: static input activation scales are not supported (dynamic only)", where);
    }
    return rc;
}

int qz_ct_read_linear(qz_tensor_lookup find, void *ctx, const char *prefix, const qz_ct_config *c, int64_t out, int64_t in,
                      float *W, qz_error *err)
{
    char name[512];
    snprintf(name, sizeof name, "%s.weight", prefix);
    const qz_st_tensor *q = find(ctx, name);
    if (!q || q->dtype != QZ_DTYPE_I8 || q->ndim != 2 || q->shape[0] != out || q->shape[1] != in)
        return qz_fail(err, QZ_EINPUT, "%s: expected I8 [%lld, %lld]", name, (long long)out, (long long)in);
    snprintf(name, sizeof name, "%s.weight_scale", prefix);
    const qz_st_tensor *s = find(ctx, name);
    int64_t ns = c->weight_per_channel ? out : 1;
    if (!s || s->numel != ns || (s->dtype != QZ_DTYPE_F32 && s->dtype != QZ_DTYPE_F16 && s->dtype != QZ_DTYPE_BF16))
        return qz_fail(err, QZ_EINPUT, "%s: expected %lld floating-point scales", name, (long long)ns);
    float *scales = qz_malloc_array((size_t)ns, sizeof(float));
    void *copy = NULL;
    const void *sd = qz_st_aligned_data(s, s->dtype == QZ_DTYPE_F32 ? 4 : 2, &copy);
    if (!scales || !sd) {
        free(scales);
        free(copy);
        return qz_fail(err, QZ_EINTERNAL, "out of memory reading %s", prefix);
    }
    if (s->dtype == QZ_DTYPE_F32) memcpy(scales, sd, (size_t)ns * sizeof(float));
    else if (s->dtype == QZ_DTYPE_F16) qz_fp16_to_fp32_row(sd, scales, ns);
    else qz_bf16_to_fp32_row(sd, scales, ns);
    const int8_t *qd = q->data;
    for (int64_t o = 0; o < out; o++)
        for (int64_t k = 0; k < in; k++)
            W[o * in + k] = (float)qd[qz_ct_weight_index(in, o, k)] * scales[qz_ct_scale_index(c->weight_per_channel, o)];
    free(scales);
    free(copy);
    return QZ_OK;
}
