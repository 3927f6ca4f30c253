/* awq_pack.c - AutoAWQ GEMM layout (WQLinear_GEMM, FORMATS-AND-ALGORITHMS.md
 * 3e): qweight / qzeros packing with the [0,2,4,6,1,3,5,7] interleave along
 * the output dim, dequantization, the tensors of one linear in a
 * safetensors file and config.json's quantization_config. The nibble index
 * arithmetic is pack_index.h's, shared with the CUDA kernels. Leaves out the
 * AWQ algorithm (scale search, clipping, grid: libquant) and the other AWQ
 * layouts (GEMV, GEMV_FAST, exllama, llm-awq's WQLinear).
 */
#include "awq_pack.h"

#include "gptq_ckpt.h"
#include "half.h"
#include "hf_model.h"
#include "json_num.h"

#include <string.h>
#include <strings.h>

#include "pack_index.h"

#define AWQ_PACK QZ_AWQ_PACK

static int32_t as_i32(uint32_t u)
{
    int32_t i;
    memcpy(&i, &u, sizeof i);
    return i;
}

/* ------------------------------------------------------------------------- */
/* Shape checks                                                               */

static int check_out(const char *fn, int64_t out, qz_error *err)
{
    if (out <= 0 || out % AWQ_PACK != 0)
        return qz_fail(err, QZ_EINPUT, "%s: out_features = %lld must be a positive multiple of 8 (AWQ packs 8 "
                       "output channels per int32)", fn, (long long)out);
    return QZ_OK;
}

/* rows (in_features or n_groups) positive and rows * out representable. */
static int check_rows(const char *fn, const char *what, int64_t rows, int64_t out, qz_error *err)
{
    if (rows <= 0 || rows > INT64_MAX / out)
        return qz_fail(err, QZ_EINPUT, "%s: %s = %lld must be positive (and %s x out_features = %lld must fit)",
                       fn, what, (long long)rows, what, (long long)out);
    return QZ_OK;
}

int qz_awq_pack_check(int64_t out, int64_t in, int64_t group_size, qz_error *err)
{
    int rc = check_out("awq pack", out, err);
    if (!rc) rc = check_rows("awq pack", "in_features", in, out, err);
    if (rc) return rc;
    if (group_size == -1) return QZ_OK;
    if (group_size <= 0 || in % group_size != 0)
        return qz_fail(err, QZ_EINPUT, "awq pack: group_size = %lld must be -1 or a positive divisor of "
                       "in_features = %lld", (long long)group_size, (long long)in);
    return QZ_OK;
}

/* ------------------------------------------------------------------------- */
/* qweight: row k of (in, out/8) holds input column k of all output channels  */

int qz_awq_pack_qweight(int32_t *qweight, const uint8_t *codes, int64_t out, int64_t in, qz_error *err)
{
    int rc = check_out("awq pack qweight", out, err);
    if (!rc) rc = check_rows("awq pack qweight", "in_features", in, out, err);
    if (rc) return rc;
    for (int64_t i = 0; i < out * in; i++)
        if (codes[i] > 15)
            return qz_fail(err, QZ_EINPUT, "awq pack qweight: code %u at [%lld, %lld] exceeds 15 (4 bits)",
                           (unsigned)codes[i], (long long)(i / in), (long long)(i % in));
    const int64_t nw = out / AWQ_PACK;
    for (int64_t c = 0; c < nw; c++) {
        const uint8_t *rows = codes + c * AWQ_PACK * in; /* channels 8c .. 8c+7 */
        for (int64_t k = 0; k < in; k++) {
            uint32_t w = 0;
            for (int j = 0; j < AWQ_PACK; j++) w |= (uint32_t)rows[j * in + k] << qz_awq_shift(j);
            qweight[k * nw + c] = as_i32(w);
        }
    }
    return QZ_OK;
}

int qz_awq_unpack_qweight(uint8_t *codes, const int32_t *qweight, int64_t out, int64_t in, qz_error *err)
{
    int rc = check_out("awq unpack qweight", out, err);
    if (!rc) rc = check_rows("awq unpack qweight", "in_features", in, out, err);
    if (rc) return rc;
    for (int64_t o = 0; o < out; o++)
        for (int64_t k = 0; k < in; k++) codes[o * in + k] = (uint8_t)qz_awq_get(qweight, out, k, o);
    return QZ_OK;
}

/* ------------------------------------------------------------------------- */
/* qzeros: row g of (n_groups, out/8) holds group g of all output channels    */

int qz_awq_pack_qzeros(int32_t *qzeros, const int32_t *zeros, int64_t n_groups, int64_t out, qz_error *err)
{
    int rc = check_out("awq pack qzeros", out, err);
    if (!rc) rc = check_rows("awq pack qzeros", "n_groups", n_groups, out, err);
    if (rc) return rc;
    for (int64_t i = 0; i < n_groups * out; i++)
        if (zeros[i] < 0 || zeros[i] > 15)
            return qz_fail(err, QZ_EINPUT, "awq pack qzeros: zero point %d at [%lld, %lld] outside [0, 15] "
                           "(AWQ stores z raw, 4 bits)", (int)zeros[i], (long long)(i / out), (long long)(i % out));
    for (int64_t t = 0; t < n_groups * out / AWQ_PACK; t++) {
        uint32_t w = 0;
        for (int j = 0; j < AWQ_PACK; j++) w |= (uint32_t)zeros[t * AWQ_PACK + j] << qz_awq_shift(j);
        qzeros[t] = as_i32(w);
    }
    return QZ_OK;
}

int qz_awq_unpack_qzeros(int32_t *zeros, const int32_t *qzeros, int64_t n_groups, int64_t out, qz_error *err)
{
    int rc = check_out("awq unpack qzeros", out, err);
    if (!rc) rc = check_rows("awq unpack qzeros", "n_groups", n_groups, out, err);
    if (rc) return rc;
    for (int64_t g = 0; g < n_groups; g++)
        for (int64_t o = 0; o < out; o++) zeros[g * out + o] = (int32_t)qz_awq_get(qzeros, out, g, o);
    return QZ_OK;
}

/* ------------------------------------------------------------------------- */
/* Dequantization                                                             */

int qz_awq_dequantize(float *W, const int32_t *qweight, const int32_t *qzeros, const float *scales, int64_t out,
                      int64_t in, int64_t group_size, qz_error *err)
{
    int rc = qz_awq_pack_check(out, in, group_size, err);
    if (rc) return rc;
    const int64_t gs = group_size == -1 ? in : group_size;
    for (int64_t o = 0; o < out; o++)
        for (int64_t k = 0; k < in; k++) {
            const int64_t g = qz_group_of(NULL, gs, k);
            const int32_t q = (int32_t)qz_awq_get(qweight, out, k, o), z = (int32_t)qz_awq_get(qzeros, out, g, o);
            W[o * in + k] = scales[g * out + o] * (float)(q - z);
        }
    return QZ_OK;
}

/* ------------------------------------------------------------------------- */
/* Checkpoint tensors                                                         */

/* Re-raises the error in err with "prefix: " in front. */
static int with_prefix(qz_error *err, int rc, const char *prefix)
{
    char msg[QZ_ERRMSG_MAX];
    snprintf(msg, sizeof msg, "%s", err ? err->msg : "");
    return qz_fail(err, rc, "%s: %s", prefix, msg);
}

static int tensor_name(char *buf, size_t cap, const char *prefix, const char *suffix, qz_error *err)
{
    int n = snprintf(buf, cap, "%s.%s", prefix, suffix);
    if (n < 0 || (size_t)n >= cap)
        return qz_fail(err, QZ_EINPUT, "awq: tensor name '%s.%s' longer than %zu bytes", prefix, suffix, cap - 1);
    return QZ_OK;
}

static int check_bits(const qz_awq_config *c, const char *prefix, qz_error *err)
{
    if (c->bits != 4)
        return qz_fail(err, QZ_EINPUT, "%s: AWQ bits = %d: the GEMM layout is 4-bit only", prefix, c->bits);
    return QZ_OK;
}

int qz_awq_write_linear(qz_st_writer *w, const char *prefix, const uint8_t *codes, const float *scales,
                        const int32_t *zeros, int64_t out, int64_t in, const float *bias, qz_dtype bias_dtype,
                        const qz_awq_config *c, qz_error *err)
{
    int rc = check_bits(c, prefix, err);
    if (rc) return rc;
    if ((rc = qz_awq_pack_check(out, in, c->group_size, err))) return with_prefix(err, rc, prefix);
    const int64_t ng = c->group_size == -1 ? 1 : in / c->group_size, nw = out / AWQ_PACK;
    const int64_t qw_shape[2] = {in, nw}, qz_shape[2] = {ng, nw}, sc_shape[2] = {ng, out};
    int32_t *qweight = qz_malloc_array((size_t)(in * nw), sizeof *qweight);
    int32_t *qzeros = qz_malloc_array((size_t)(ng * nw), sizeof *qzeros);
    char name[512];
    if (!qweight || !qzeros) rc = qz_fail(err, QZ_EINTERNAL, "%s: out of memory packing AWQ tensors", prefix);
    if (!rc && (rc = qz_awq_pack_qweight(qweight, codes, out, in, err))) rc = with_prefix(err, rc, prefix);
    if (!rc && (rc = qz_awq_pack_qzeros(qzeros, zeros, ng, out, err))) rc = with_prefix(err, rc, prefix);
    if (!rc) rc = tensor_name(name, sizeof name, prefix, "qweight", err);
    if (!rc) rc = qz_st_writer_add(w, name, QZ_DTYPE_I32, 2, qw_shape, qweight, (size_t)(in * nw) * 4, err);
    if (!rc) rc = tensor_name(name, sizeof name, prefix, "qzeros", err);
    if (!rc) rc = qz_st_writer_add(w, name, QZ_DTYPE_I32, 2, qz_shape, qzeros, (size_t)(ng * nw) * 4, err);
    if (!rc) rc = tensor_name(name, sizeof name, prefix, "scales", err);
    if (!rc) rc = qz_st_writer_add_f32(w, name, scales, 2, sc_shape, QZ_DTYPE_F16, err);
    if (!rc && bias) rc = tensor_name(name, sizeof name, prefix, "bias", err);
    if (!rc && bias) rc = qz_st_writer_add_f32(w, name, bias, 1, &out, bias_dtype, err);
    free(qweight);
    free(qzeros);
    return rc;
}

/* Looks up name and checks dtype and 2-D shape (d0, d1). */
static int get_checked(qz_tensor_lookup find, void *ctx, const char *name, qz_dtype dt, int64_t d0, int64_t d1,
                       const qz_st_tensor **t, qz_error *err)
{
    *t = find(ctx, name);
    if (!*t) return qz_fail(err, QZ_EINPUT, "AWQ tensor '%s' missing", name);
    const qz_st_tensor *x = *t;
    if (x->dtype != dt || x->ndim != 2 || x->shape[0] != d0 || x->shape[1] != d1)
        return qz_fail(err, QZ_EINPUT, "AWQ tensor '%s': expected %s [%lld, %lld] (GEMM layout), found %s with %d "
                       "dims [%lld, %lld%s]", name, qz_dtype_name(dt), (long long)d0, (long long)d1,
                       qz_dtype_name(x->dtype), x->ndim, x->ndim > 0 ? (long long)x->shape[0] : 0LL,
                       x->ndim > 1 ? (long long)x->shape[1] : 0LL, x->ndim > 2 ? ", ..." : "");
    return QZ_OK;
}

int qz_awq_read_linear(qz_tensor_lookup find, void *ctx, const char *prefix, const qz_awq_config *c, int64_t out,
                       int64_t in, float *W, qz_error *err)
{
    int rc = check_bits(c, prefix, err);
    if (rc) return rc;
    if ((rc = qz_awq_pack_check(out, in, c->group_size, err))) return with_prefix(err, rc, prefix);
    const int64_t ng = c->group_size == -1 ? 1 : in / c->group_size, nw = out / AWQ_PACK;
    const qz_st_tensor *qw, *qzt, *sc;
    char name[512];
    rc = tensor_name(name, sizeof name, prefix, "qweight", err);
    if (!rc) rc = get_checked(find, ctx, name, QZ_DTYPE_I32, in, nw, &qw, err);
    if (!rc) rc = tensor_name(name, sizeof name, prefix, "qzeros", err);
    if (!rc) rc = get_checked(find, ctx, name, QZ_DTYPE_I32, ng, nw, &qzt, err);
    if (!rc) rc = tensor_name(name, sizeof name, prefix, "scales", err);
    if (!rc) rc = get_checked(find, ctx, name, QZ_DTYPE_F16, ng, out, &sc, err);
    if (rc) return rc;
    void *qw_copy, *qz_copy, *sc_copy;
    const int32_t *qwd = qz_st_aligned_data(qw, sizeof(int32_t), &qw_copy);
    const int32_t *qzd = qz_st_aligned_data(qzt, sizeof(int32_t), &qz_copy);
    const uint16_t *scd = qz_st_aligned_data(sc, sizeof(uint16_t), &sc_copy);
    float *scales = qz_malloc_array((size_t)(ng * out), sizeof *scales);
    if (!qwd || !qzd || !scd || !scales) {
        rc = qz_fail(err, QZ_EINTERNAL, "%s: out of memory reading AWQ tensors", prefix);
    } else {
        qz_fp16_to_fp32_row(scd, scales, ng * out);
        if ((rc = qz_awq_dequantize(W, qwd, qzd, scales, out, in, c->group_size, err)))
            rc = with_prefix(err, rc, prefix);
    }
    free(qw_copy);
    free(qz_copy);
    free(sc_copy);
    free(scales);
    return rc;
}

/* ------------------------------------------------------------------------- */
/* quantization_config                                                        */

cJSON *qz_awq_config_json(const qz_awq_config *c, const char *const *not_converted, int n)
{
    cJSON *j = cJSON_CreateObject();
    int ok = j != NULL;
    ok = ok && cJSON_AddStringToObject(j, "quant_method", "awq");
    ok = ok && cJSON_AddBoolToObject(j, "zero_point", c->zero_point ? 1 : 0);
    ok = ok && cJSON_AddNumberToObject(j, "group_size", (double)c->group_size);
    ok = ok && cJSON_AddNumberToObject(j, "bits", c->bits);
    ok = ok && cJSON_AddStringToObject(j, "version", "gemm");
    ok = ok && cJSON_AddStringToObject(j, "format", "gemm"); /* GPTQModel reads format (it logs a missing one); transformers takes either */
    if (ok && n > 0) {
        cJSON *a = cJSON_AddArrayToObject(j, "modules_to_not_convert");
        ok = a != NULL;
        for (int i = 0; ok && i < n; i++) {
            cJSON *s = cJSON_CreateString(not_converted[i]);
            ok = s && cJSON_AddItemToArray(a, s);
        }
    } else if (ok) {
        ok = cJSON_AddNullToObject(j, "modules_to_not_convert") != NULL;
    }
    ok = ok && qz_gptq_dynamic_fp_rules(j, not_converted, n) == 0; /* GPTQModel ignores modules_to_not_convert */
    if (!ok) {
        cJSON_Delete(j);
        return NULL;
    }
    return j;
}

/* The item under key a or its synonym b (AutoAWQ's internal names), which
 * must agree when both are present. *item is NULL when neither is. */
static int get_synonym(const cJSON *qc, const char *a, const char *b, const char *where, const cJSON **item,
                       qz_error *err)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(qc, a), *y = cJSON_GetObjectItemCaseSensitive(qc, b);
    if (x && y && !cJSON_Compare(x, y, 1))
        return qz_fail(err, QZ_EINPUT, "%s: quantization_config has both %s and %s, with different values", where,
                       a, b);
    *item = x ? x : y;
    return QZ_OK;
}

int qz_awq_config_parse(const cJSON *qc, const char *where, qz_awq_config *c, qz_error *err)
{
    memset(c, 0, sizeof *c);
    if (!cJSON_IsObject(qc)) return qz_fail(err, QZ_EINPUT, "%s: quantization_config is not an object", where);
    const cJSON *qm = cJSON_GetObjectItemCaseSensitive(qc, "quant_method");
    const cJSON *zp = cJSON_GetObjectItemCaseSensitive(qc, "zero_point");
    const cJSON *ver = cJSON_GetObjectItemCaseSensitive(qc, "version");
    const cJSON *bits, *gs;
    if (qm && !(cJSON_IsString(qm) && !strcasecmp(qm->valuestring, "awq")))
        return qz_fail(err, QZ_EINPUT, "%s: quantization_config.quant_method is '%s', not 'awq'", where,
                       cJSON_IsString(qm) ? qm->valuestring : "(not a string)");
    int rc = get_synonym(qc, "bits", "w_bit", where, &bits, err);
    if (!rc) rc = get_synonym(qc, "group_size", "q_group_size", where, &gs, err);
    if (rc) return rc;
    int64_t b = 0, g = 0;
    if (!qz_json_int(bits, 4, 4, &b))
        return qz_fail(err, QZ_EINPUT, "%s: quantization_config.bits must be 4 (the AWQ GEMM layout is 4-bit "
                       "only), found %s%g", where, cJSON_IsNumber(bits) ? "" : "none: ",
                       cJSON_IsNumber(bits) ? bits->valuedouble : 0.0);
    if (!qz_json_int(gs, -1, QZ_CFG_MAX_DIM, &g) || g == 0)
        return qz_fail(err, QZ_EINPUT, "%s: quantization_config.group_size must be -1 or an integer in [1, %lld], "
                       "found %s%g", where, (long long)QZ_CFG_MAX_DIM, cJSON_IsNumber(gs) ? "" : "none: ",
                       cJSON_IsNumber(gs) ? gs->valuedouble : 0.0);
    if (zp && !cJSON_IsBool(zp))
        return qz_fail(err, QZ_EINPUT, "%s: quantization_config.zero_point must be true or false", where);
    if (ver && !(cJSON_IsString(ver) && !strcasecmp(ver->valuestring, "gemm")))
        return qz_fail(err, QZ_EINPUT, "%s: AWQ version '%s' is not supported (only gemm, AutoAWQ's default "
                       "layout)", where, cJSON_IsString(ver) ? ver->valuestring : "(not a string)");
    c->bits = 4;
    c->group_size = g;
    c->zero_point = zp ? cJSON_IsTrue(zp) : 1;
    return QZ_OK;
}
