/* sparse24.c - compressed-tensors sparse-24-bitmask tensors and config (see
 * sparse24.h). Follows neuralmagic/compressed-tensors
 * compressors/sparse_compressors/sparse_24_bitmask.py (top-2 |w| of each
 * group of 4, kept values W[mask] row-major) and utils/helpers.py
 * pack_bitmasks (numpy.packbits(mask, axis=-1, bitorder="little")). Where a
 * group has fewer than 2 nonzeros torch.topk's pick among the equal zeros is
 * unspecified; qz takes the lowest columns (the dense W is the same).
 * The bitmask index arithmetic is pack_index.h's, shared with CUDA.
 * Leaves out: FP8 values, sparse-bitmask (unstructured), 2:4 + quantization. */
#include "sparse24.h"

#include "half.h"
#include "pack_index.h"

#include <string.h>

/* Bit k set when input k of the group g[0..3] is nonzero. */
static unsigned nonzero_bits(const float *g)
{
    unsigned m = 0;
    for (int k = 0; k < 4; k++) m |= (unsigned)(g[k] != 0.0f) << k;
    return m;
}

/* The nonzeros, then the lowest-column zeros, up to 2 (nz has at most 2). */
static unsigned keep_bits(unsigned nz)
{
    for (int k = 0; k < 4 && qz_s24_popcount4(nz) < 2; k++) nz |= 1u << k;
    return nz;
}

/* Re-fails err with "prefix: " before its message. */
static int prefixed(qz_error *err, int rc, const char *prefix)
{
    char msg[QZ_ERRMSG_MAX];
    snprintf(msg, sizeof msg, "%s", err ? err->msg : "");
    return qz_fail(err, rc, "%s: %s", prefix, msg);
}

int qz_sparse24_check(const float *w, int64_t out, int64_t in, qz_error *err)
{
    if (in % 4) return qz_fail(err, QZ_EINPUT, "in_features %lld is not a multiple of 4 (2:4 groups)", (long long)in);
    for (int64_t r = 0; r < out; r++)
        for (int64_t g = 0; g < in / 4; g++) {
            int n = qz_s24_popcount4(nonzero_bits(w + r * in + 4 * g));
            if (n > 2)
                return qz_fail(err, QZ_EINPUT, "row %lld, inputs %lld..%lld: %d nonzeros in a group of 4 (2:4 allows at most 2)",
                               (long long)r, (long long)(4 * g), (long long)(4 * g + 3), n);
        }
    return QZ_OK;
}

int qz_sparse24_vllm_shape_ok(int64_t out, int64_t in)
{
    return out % 8 == 0 && in % 8 == 0;
}

/* ----------------------------------------------------------------- writing */

/* vals (out, in/2) and bits (out, ceil(in/8), zeroed) of a checked w. */
static void compress_rows(const float *w, int64_t out, int64_t in, float *vals, uint8_t *bits)
{
    const int64_t nb = qz_s24_row_bytes(in);
    for (int64_t r = 0; r < out; r++)
        for (int64_t g = 0; g < in / 4; g++) {
            const float *grp = w + r * in + 4 * g;
            float *v = vals + r * (in / 2) + qz_s24_value_index(g);
            unsigned m = keep_bits(nonzero_bits(grp));
            for (int k = 0; k < 4; k++)
                if (m >> k & 1) *v++ = grp[k];
            qz_s24_put_group_bits(bits + r * nb, g, m);
        }
}

int qz_sparse24_write_linear(qz_st_writer *st, const char *prefix, const float *w, int64_t out, int64_t in,
                             const float *bias, qz_dtype dtype, qz_error *err)
{
    int rc = qz_sparse24_check(w, out, in, err);
    if (rc) return prefixed(err, rc, prefix);
    int64_t nb = qz_s24_row_bytes(in), dims[2] = {out, in}, shape_dims[2] = {2, 1}, val_dims[2] = {out, in / 2},
            bit_dims[2] = {out, nb};
    float *vals = qz_malloc_array((size_t)(out * (in / 2)), sizeof *vals);
    uint8_t *bits = qz_calloc_array((size_t)(out * nb), 1);
    char name[512];
    if (!vals || !bits) rc = qz_fail(err, QZ_EINTERNAL, "out of memory compressing %s", prefix);
    else compress_rows(w, out, in, vals, bits);
    snprintf(name, sizeof name, "%s.shape", prefix);
    if (rc == QZ_OK) rc = qz_st_writer_add(st, name, QZ_DTYPE_I64, 2, shape_dims, dims, sizeof dims, err);
    snprintf(name, sizeof name, "%s.compressed", prefix);
    if (rc == QZ_OK) rc = qz_st_writer_add_f32(st, name, vals, 2, val_dims, dtype, err);
    snprintf(name, sizeof name, "%s.bitmask", prefix);
    if (rc == QZ_OK) rc = qz_st_writer_add(st, name, QZ_DTYPE_U8, 2, bit_dims, bits, (size_t)(out * nb), err);
    snprintf(name, sizeof name, "%s.bias", prefix);
    if (rc == QZ_OK && bias) rc = qz_st_writer_add_f32(st, name, bias, 1, &out, dtype, err);
    free(vals);
    free(bits);
    return rc;
}

/* ----------------------------------------------------------------- reading */

/* prefix.suffix, present, 2-D [d0, d1]. */
static int lookup(qz_tensor_lookup find, void *ctx, const char *prefix, const char *suffix, int64_t d0, int64_t d1,
                  const qz_st_tensor **t, qz_error *err)
{
    char name[512];
    snprintf(name, sizeof name, "%s.%s", prefix, suffix);
    *t = find(ctx, name);
    if (!*t) return qz_fail(err, QZ_EINPUT, "sparse-24-bitmask tensor '%s' missing", name);
    if ((*t)->ndim != 2 || (*t)->shape[0] != d0 || (*t)->shape[1] != d1)
        return qz_fail(err, QZ_EINPUT, "tensor '%s': %d dims [%lld, %lld, ...], expected [%lld, %lld]", name, (*t)->ndim,
                       (long long)(*t)->shape[0], (long long)(*t)->shape[1], (long long)d0, (long long)d1);
    return QZ_OK;
}

static int dtype_error(const qz_st_tensor *t, const char *want, qz_error *err)
{
    return qz_fail(err, QZ_EINPUT, "tensor '%s': dtype %s, expected %s", t->name, qz_dtype_name(t->dtype), want);
}

/* The three tensors of prefix, checked against (out, in). */
static int lookup_all(qz_tensor_lookup find, void *ctx, const char *prefix, int64_t out, int64_t in,
                      const qz_st_tensor *t[3], qz_error *err)
{
    int rc = lookup(find, ctx, prefix, "shape", 2, 1, &t[0], err);
    if (rc == QZ_OK && t[0]->dtype != QZ_DTYPE_I64) rc = dtype_error(t[0], "I64", err);
    if (rc == QZ_OK) {
        int64_t sh[2];
        memcpy(sh, t[0]->data, sizeof sh); /* memcpy: the data need not be aligned */
        if (sh[0] != out || sh[1] != in)
            rc = qz_fail(err, QZ_EINPUT, "tensor '%s' = [%lld, %lld], config.json implies [%lld, %lld]", t[0]->name,
                         (long long)sh[0], (long long)sh[1], (long long)out, (long long)in);
    }
    if (rc == QZ_OK) rc = lookup(find, ctx, prefix, "compressed", out, in / 2, &t[1], err);
    if (rc == QZ_OK && t[1]->dtype != QZ_DTYPE_F32 && t[1]->dtype != QZ_DTYPE_F16 && t[1]->dtype != QZ_DTYPE_BF16)
        rc = dtype_error(t[1], "F32, F16 or BF16", err);
    if (rc == QZ_OK) rc = lookup(find, ctx, prefix, "bitmask", out, (in + 7) / 8, &t[2], err);
    if (rc == QZ_OK && t[2]->dtype != QZ_DTYPE_U8) rc = dtype_error(t[2], "U8", err);
    return rc;
}

static void row_to_f32(const void *src, qz_dtype dt, int64_t n, float *dst)
{
    if (dt == QZ_DTYPE_F32) memcpy(dst, src, (size_t)n * sizeof(float));
    else if (dt == QZ_DTYPE_F16) qz_fp16_to_fp32_row(src, dst, n);
    else qz_bf16_to_fp32_row(src, dst, n);
}

/* w (out, in) from the kept values vals (out, in/2, dtype dt) and bits. */
static int decompress_rows(const qz_st_tensor *bitmask, const void *vals, qz_dtype dt, int64_t out, int64_t in,
                           float *row_vals, float *w, qz_error *err)
{
    const int64_t nb = qz_s24_row_bytes(in), half = in / 2;
    const uint8_t *bits = bitmask->data;
    for (int64_t r = 0; r < out; r++) {
        row_to_f32((const char *)vals + (size_t)(r * half) * qz_dtype_size(dt), dt, half, row_vals);
        float *wr = w + r * in;
        for (int64_t g = 0; g < in / 4; g++) {
            const float *v = row_vals + qz_s24_value_index(g);
            unsigned m = qz_s24_group_bits(bits + r * nb, g);
            if (qz_s24_popcount4(m) != 2)
                return qz_fail(err, QZ_EINPUT, "tensor '%s': row %lld, inputs %lld..%lld: %d mask bits set (2:4 needs exactly 2)",
                               bitmask->name, (long long)r, (long long)(4 * g), (long long)(4 * g + 3), qz_s24_popcount4(m));
            for (int k = 0; k < 4; k++) wr[4 * g + k] = m >> k & 1 ? *v++ : 0.0f;
        }
    }
    return QZ_OK;
}

int qz_sparse24_read_linear(qz_tensor_lookup find, void *ctx, const char *prefix, int64_t out, int64_t in, float *w,
                            qz_error *err)
{
    if (in % 4)
        return qz_fail(err, QZ_EINPUT, "%s: in_features %lld is not a multiple of 4, so it cannot be sparse-24-bitmask", prefix,
                       (long long)in);
    const qz_st_tensor *t[3];
    int rc = lookup_all(find, ctx, prefix, out, in, t, err);
    if (rc) return rc;
    void *copy = NULL;
    const void *vals = qz_st_aligned_data(t[1], qz_dtype_size(t[1]->dtype), &copy);
    float *row_vals = qz_malloc_array((size_t)(in / 2 + 1), sizeof *row_vals);
    if (!vals || !row_vals) rc = qz_fail(err, QZ_EINTERNAL, "out of memory reading %s", prefix);
    else rc = decompress_rows(t[2], vals, t[1]->dtype, out, in, row_vals, w, err);
    free(row_vals);
    free(copy);
    return rc;
}

/* ------------------------------------------------------------------ config */

static cJSON *string_array(const char *first, const char *const *s, int n)
{
    cJSON *a = cJSON_CreateArray();
    if (first) cJSON_AddItemToArray(a, cJSON_CreateString(first));
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateString(s[i]));
    return a;
}

/* Keys in sorted order, as update_config's json.dump(sort_keys=True). */
cJSON *qz_sparse24_config_json(int bitmask, double global_sparsity, const char *const *compressed, int n_compressed,
                               const char *const *dense, int n_dense)
{
    QZ_ASSERT(n_compressed > 0);
    cJSON *j = cJSON_CreateObject(), *sc = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "quant_method", "compressed-tensors");
    cJSON_AddStringToObject(sc, "format", bitmask ? "sparse-24-bitmask" : "dense");
    cJSON_AddNumberToObject(sc, "global_sparsity", global_sparsity);
    cJSON_AddItemToObject(sc, "ignore", string_array("lm_head", dense, n_dense));
    cJSON_AddStringToObject(sc, "sparsity_structure", "2:4");
    /* vLLM drops only exact target names listed in ignore (sparsity targets
     * minus ignore), so a dense decoder linear needs explicit targets. */
    if (n_dense == 0) cJSON_AddItemToObject(sc, "targets", string_array("Linear", NULL, 0));
    else cJSON_AddItemToObject(sc, "targets", string_array(NULL, compressed, n_compressed));
    cJSON_AddItemToObject(j, "sparsity_config", sc);
    return j;
}

int qz_sparse24_config_parse(const cJSON *qc, const char *where, int *sparse_only, qz_error *err)
{
    *sparse_only = 0;
    const cJSON *sc = cJSON_GetObjectItemCaseSensitive(qc, "sparsity_config");
    const cJSON *groups = cJSON_GetObjectItemCaseSensitive(qc, "config_groups");
    if (sc && !cJSON_IsNull(sc) && !cJSON_IsObject(sc))
        return qz_fail(err, QZ_EINPUT, "%s: quantization_config.sparsity_config must be an object", where);
    if (!cJSON_IsObject(sc) || !sc->child) return QZ_OK; /* none, or {} as newer writers put it */
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(sc, "format");
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(sc, "sparsity_structure");
    const char *f = cJSON_IsString(fmt) ? fmt->valuestring : "?";
    int quantized = cJSON_IsObject(groups) && groups->child, dense = !strcmp(f, "dense");
    if (!dense && strcmp(f, "sparse-24-bitmask"))
        return qz_fail(err, QZ_EINPUT, "%s: sparsity_config.format '%s' is not supported (supported: sparse-24-bitmask, dense)",
                       where, f);
    if (!dense && quantized)
        return qz_fail(err, QZ_EINPUT,
                       "%s: sparse-24-bitmask together with quantization (config_groups) is not supported; give the 2:4 model "
                       "before quantization",
                       where);
    if (!dense && !(cJSON_IsString(st) && !strcmp(st->valuestring, "2:4")))
        return qz_fail(err, QZ_EINPUT, "%s: sparse-24-bitmask needs sparsity_config.sparsity_structure \"2:4\"", where);
    *sparse_only = !quantized;
    return QZ_OK;
}
