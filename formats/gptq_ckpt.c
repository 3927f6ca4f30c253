/* gptq_ckpt.c - GPTQ checkpoint tensors and quantization_config (see
 * gptq_ckpt.h). */
#include "gptq_ckpt.h"

#include "half.h"
#include "hf_model.h"
#include "json_num.h"

#include <ctype.h>
#include <string.h>

/* ----------------------------------------------------------------- writing */

int qz_gptq_write_linear(qz_st_writer *w, const char *prefix, const uint8_t *codes, const float *scales,
                         const int32_t *zeros, const int32_t *g_idx, int64_t n_groups, int64_t out, int64_t in,
                         const float *bias, qz_dtype bias_dtype, const qz_gptq_config *c, qz_error *err)
{
    int64_t qw_shape[2] = {in * c->bits / 32, out}, qz_shape[2] = {n_groups, out * c->bits / 32};
    int64_t sc_shape[2] = {n_groups, out};
    int32_t *qweight = qz_malloc_array((size_t)(qw_shape[0] * out), sizeof *qweight);
    int32_t *qzeros = qz_malloc_array((size_t)(qz_shape[0] * qz_shape[1]), sizeof *qzeros);
    char name[512];
    int rc = qweight && qzeros ? QZ_OK : qz_fail(err, QZ_EINTERNAL, "out of memory packing %s", prefix);
    if (rc == QZ_OK) rc = qz_gptq_pack_qweight(qweight, codes, out, in, c->bits, err);
    if (rc == QZ_OK) rc = qz_gptq_pack_qzeros(qzeros, zeros, n_groups, out, c->bits, c->fmt, err);
    snprintf(name, sizeof name, "%s.qweight", prefix);
    if (rc == QZ_OK) rc = qz_st_writer_add(w, name, QZ_DTYPE_I32, 2, qw_shape, qweight, (size_t)(qw_shape[0] * out) * 4, err);
    snprintf(name, sizeof name, "%s.qzeros", prefix);
    if (rc == QZ_OK) rc = qz_st_writer_add(w, name, QZ_DTYPE_I32, 2, qz_shape, qzeros, (size_t)(qz_shape[0] * qz_shape[1]) * 4, err);
    snprintf(name, sizeof name, "%s.scales", prefix);
    if (rc == QZ_OK) rc = qz_st_writer_add_f32(w, name, scales, 2, sc_shape, QZ_DTYPE_F16, err);
    snprintf(name, sizeof name, "%s.g_idx", prefix);
    if (rc == QZ_OK) rc = qz_st_writer_add(w, name, QZ_DTYPE_I32, 1, &in, g_idx, (size_t)in * 4, err);
    snprintf(name, sizeof name, "%s.bias", prefix);
    if (rc == QZ_OK && bias) rc = qz_st_writer_add_f32(w, name, bias, 1, &out, bias_dtype, err);
    free(qweight);
    free(qzeros);
    return rc;
}

static cJSON *string_array(const char *const *s, int n)
{
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateString(s[i]));
    return a;
}

/* "^model\\.layers\\.\\d+\\.<name>$" with name's regex metacharacters
 * escaped: GPTQModel matches a rule with PCRE's match() (anchored at the
 * start only) against the full module name, "model." prefix included. */
static int layer_rule(char *dst, size_t cap, const char *name)
{
    size_t n = (size_t)snprintf(dst, cap, "-:^model\\.layers\\.\\d+\\.");
    for (; *name; name++) {
        if (n + 4 > cap) return -1; /* room for an escape, the char, '$' and NUL */
        if (!isalnum((unsigned char)*name) && *name != '_') dst[n++] = '\\';
        dst[n++] = *name;
    }
    dst[n++] = '$';
    dst[n] = 0;
    return 0;
}

int qz_gptq_dynamic_fp_rules(cJSON *qc, const char *const *fp, int n_fp)
{
    if (n_fp == 0) return 0;
    cJSON *dyn = cJSON_AddObjectToObject(qc, "dynamic");
    char rule[256];
    for (int i = 0; dyn && i < n_fp; i++)
        if (layer_rule(rule, sizeof rule, fp[i]) || !cJSON_AddObjectToObject(dyn, rule)) return -1;
    return dyn ? 0 : -1;
}

cJSON *qz_gptq_config_json(const qz_gptq_config *c, const char *const *quantized, int n_quantized, const char *const *fp,
                           int n_fp)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "bits", c->bits);
    cJSON_AddNumberToObject(j, "group_size", (double)c->group_size);
    cJSON_AddNumberToObject(j, "damp_percent", c->damp);
    cJSON_AddBoolToObject(j, "desc_act", c->desc_act);
    cJSON_AddBoolToObject(j, "static_groups", c->static_groups);
    cJSON_AddBoolToObject(j, "sym", c->sym);
    cJSON_AddBoolToObject(j, "true_sequential", c->true_sequential);
    cJSON_AddStringToObject(j, "quant_method", "gptq");
    cJSON_AddStringToObject(j, "checkpoint_format", qz_gptq_zero_fmt_name(c->fmt));
    cJSON *blocks = cJSON_AddArrayToObject(j, "modules_in_block_to_quantize");
    cJSON_AddItemToArray(blocks, string_array(quantized, n_quantized));
    cJSON_AddItemToObject(j, "qz_modules_not_quantized", string_array(fp, n_fp));
    if (qz_gptq_dynamic_fp_rules(j, fp, n_fp)) {
        cJSON_Delete(j);
        return NULL;
    }
    return j;
}

/* ----------------------------------------------------------------- reading */

int qz_gptq_config_parse(const cJSON *qc, const char *where, qz_gptq_config *c, qz_error *err)
{
    memset(c, 0, sizeof *c);
    const cJSON *bits = cJSON_GetObjectItemCaseSensitive(qc, "bits");
    const cJSON *gs = cJSON_GetObjectItemCaseSensitive(qc, "group_size");
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(qc, "checkpoint_format");
    int64_t b = 0, g = 0;
    if (!qz_json_int(bits, 2, 8, &b) || qz_gptq_pack_align((int)b) == 0)
        return qz_fail(err, QZ_EINPUT, "%s: quantization_config.bits must be 2, 3, 4 or 8", where);
    if (!qz_json_int(gs, -1, QZ_CFG_MAX_DIM, &g) || g == 0)
        return qz_fail(err, QZ_EINPUT, "%s: quantization_config.group_size must be -1 or an integer in [1, %lld]", where,
                       (long long)QZ_CFG_MAX_DIM);
    c->bits = (int)b;
    c->group_size = g;
    c->sym = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(qc, "sym"));
    c->desc_act = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(qc, "desc_act"));
    c->fmt = QZ_GPTQ_ZERO_V1;
    if (cJSON_IsString(fmt) && !strcmp(fmt->valuestring, "gptq_v2")) c->fmt = QZ_GPTQ_ZERO_V2;
    else if (cJSON_IsString(fmt) && strcmp(fmt->valuestring, "gptq"))
        return qz_fail(err, QZ_EINPUT, "%s: checkpoint_format '%s' is not supported (supported: gptq, gptq_v2)", where, fmt->valuestring);
    return QZ_OK;
}

/* Looks up name and checks its dtype and 2-D/1-D shape. */
static int get_checked(qz_tensor_lookup find, void *ctx, const char *name, qz_dtype dt, int ndim, int64_t d0, int64_t d1,
                       qz_st_tensor **t, qz_error *err)
{
    *t = find(ctx, name);
    if (!*t) return qz_fail(err, QZ_EINPUT, "GPTQ tensor '%s' missing", name);
    if ((*t)->dtype != dt || (*t)->ndim != ndim || (*t)->shape[0] != d0 || (ndim == 2 && (*t)->shape[1] != d1))
        return qz_fail(err, QZ_EINPUT, "GPTQ tensor '%s': expected %s [%lld%s%lld], found %s with %d dims", name,
                       qz_dtype_name(dt), (long long)d0, ndim == 2 ? ", " : "", ndim == 2 ? (long long)d1 : 0LL,
                       qz_dtype_name((*t)->dtype), (*t)->ndim);
    return QZ_OK;
}

int qz_gptq_read_linear(qz_tensor_lookup find, void *ctx, const char *prefix, const qz_gptq_config *c, int64_t out,
                        int64_t in, float *W, qz_error *err)
{
    char name[512];
    int rc = qz_gptq_pack_check(out, in, c->bits, err);
    if (rc) return rc;
    int64_t gs = c->group_size > 0 ? c->group_size : in, ng = (in + gs - 1) / gs;
    qz_st_tensor *qw, *qzt, *sc, *gi;
    snprintf(name, sizeof name, "%s.qweight", prefix);
    rc = get_checked(find, ctx, name, QZ_DTYPE_I32, 2, in * c->bits / 32, out, &qw, err);
    snprintf(name, sizeof name, "%s.qzeros", prefix);
    if (rc == QZ_OK) rc = get_checked(find, ctx, name, QZ_DTYPE_I32, 2, ng, out * c->bits / 32, &qzt, err);
    snprintf(name, sizeof name, "%s.scales", prefix);
    if (rc == QZ_OK) rc = get_checked(find, ctx, name, QZ_DTYPE_F16, 2, ng, out, &sc, err);
    snprintf(name, sizeof name, "%s.g_idx", prefix);
    if (rc == QZ_OK) rc = get_checked(find, ctx, name, QZ_DTYPE_I32, 1, in, 0, &gi, err);
    if (rc) return rc;
    void *copies[4] = {0};
    const int32_t *qwd = qz_st_aligned_data(qw, 4, &copies[0]), *qzd = qz_st_aligned_data(qzt, 4, &copies[1]);
    const int32_t *gid = qz_st_aligned_data(gi, 4, &copies[2]);
    const uint16_t *scd = qz_st_aligned_data(sc, 2, &copies[3]);
    float *scales = qz_malloc_array((size_t)(ng * out), sizeof *scales);
    if (!scales || !qwd || !qzd || !gid || !scd) rc = qz_fail(err, QZ_EINTERNAL, "out of memory reading %s", prefix);
    if (rc == QZ_OK) {
        qz_fp16_to_fp32_row(scd, scales, ng * out);
        rc = qz_gptq_dequantize(W, qwd, qzd, scales, gid, out, in, ng, c->bits, c->fmt, err);
    }
    free(scales);
    for (int i = 0; i < 4; i++) free(copies[i]);
    if (rc) {
        char msg[QZ_ERRMSG_MAX];
        snprintf(msg, sizeof msg, "%s", err->msg);
        return qz_fail(err, rc, "%s: %s", prefix, msg);
    }
    return QZ_OK;
}
