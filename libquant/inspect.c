/* inspect.c - what a model directory holds (qz-eval --info): format and
 * quantization parameters from config.json's quantization_config, read as
 * model loading reads it (formats/quant_config.h: GPTQ, AutoAWQ GEMM,
 * compressed-tensors int-quantized and sparse-24-bitmask), every tensor attributed
 * to the decoder linear whose name prefixes it, storage per layer, the
 * config's not-quantized lists matched the way loaders match them
 * (transformers: substring of the module name; compressed-tensors: "re:"
 * entries are regular expressions matched from the start, here as POSIX
 * extended ones), exact zeros of float-stored linears, and the true bits per
 * weight as inspect.h defines them. Runs nothing, dequantizes nothing. */
#include "inspect.h"

#include <ctype.h>
#include <regex.h>
#include <stdarg.h>
#include <string.h>

static const char *storage_names[QZ_STORE_COUNT] = {
    [QZ_STORE_FLOAT] = "float", [QZ_STORE_PACKED] = "packed", [QZ_STORE_INT8] = "int8", [QZ_STORE_SPARSE24] = "sparse24",
    [QZ_STORE_GGML] = "ggml"};

const char *qz_info_storage_name(qz_info_storage s)
{
    return (unsigned)s < QZ_STORE_COUNT ? storage_names[s] : "?";
}

const char *qz_info_format_name(const qz_info *info)
{
    static const char *names[QZ_INFO_FORMAT_COUNT] = {
        [QZ_INFO_GPTQ] = "gptq", [QZ_INFO_GPTQ_V2] = "gptq_v2", [QZ_INFO_AWQ_GEMM] = "awq_gemm",
        [QZ_INFO_CT_INT] = "ct_int_quantized", [QZ_INFO_CT_SPARSE24] = "ct_sparse24_bitmask", [QZ_INFO_GGUF] = "gguf"};
    if (info->format != QZ_INFO_FLOAT) return names[info->format];
    return info->float_dtype == QZ_DTYPE_F32 ? "fp32" : info->float_dtype == QZ_DTYPE_BF16 ? "bf16" : "fp16";
}

static int is_float(qz_dtype t)
{
    return t == QZ_DTYPE_F32 || t == QZ_DTYPE_F16 || t == QZ_DTYPE_BF16;
}

static void add_warning(qz_info *info, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add_warning(qz_info *info, const char *fmt, ...)
{
    if (info->n_warnings >= QZ_INFO_MAX_WARN) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(info->warnings[info->n_warnings++], QZ_INFO_WARN_LEN, fmt, ap);
    va_end(ap);
}

/* ------------------------------------------------------------------ format */

static const cJSON *get(const cJSON *o, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(o, key);
}

/* info->format and the quantization parameters, from quantization_config
 * as model loading reads it (quant_config.h). */
static int read_format(qz_info *info, const cJSON *config, const char *where, qz_error *err)
{
    static const char *methods[QZ_QUANT_KIND_COUNT] = {
        [QZ_QUANT_KIND_GPTQ] = "gptq", [QZ_QUANT_KIND_AWQ] = "awq", [QZ_QUANT_KIND_CT_INT] = "compressed-tensors",
        [QZ_QUANT_KIND_SPARSE] = "compressed-tensors"};
    qz_quant_config q;
    int rc = qz_quant_config_read(config, where, &q, err);
    info->quant_method = methods[q.kind];
    info->quantized = q.kind != QZ_QUANT_KIND_NONE && q.kind != QZ_QUANT_KIND_SPARSE;
    switch (q.kind) {
    case QZ_QUANT_KIND_GPTQ:
        info->format = q.gptq.fmt == QZ_GPTQ_ZERO_V2 ? QZ_INFO_GPTQ_V2 : QZ_INFO_GPTQ;
        info->bits = q.gptq.bits, info->group_size = q.gptq.group_size, info->sym = q.gptq.sym, info->desc_act = q.gptq.desc_act;
        break;
    case QZ_QUANT_KIND_AWQ:
        info->format = QZ_INFO_AWQ_GEMM;
        info->bits = q.awq.bits, info->group_size = q.awq.group_size, info->sym = !q.awq.zero_point;
        break;
    case QZ_QUANT_KIND_CT_INT:
        info->format = QZ_INFO_CT_INT;
        info->bits = q.ct.weight_bits, info->group_size = q.ct.weight_per_channel ? -1 : 0, info->sym = 1;
        break;
    default: info->format = q.kind == QZ_QUANT_KIND_SPARSE && q.sparse24_bitmask ? QZ_INFO_CT_SPARSE24 : QZ_INFO_FLOAT;
    }
    return rc;
}

/* ------------------------------------------------- not-quantized name lists */

typedef struct name_list {
    int n;
    const char **s;   /* entries (into config_json); regex entries without "re:" */
    regex_t *re;      /* compiled when is_re */
    uint8_t *is_re;
} name_list;

static void list_free(name_list *l)
{
    for (int i = 0; i < l->n; i++)
        if (l->is_re[i]) regfree(&l->re[i]);
    free(l->s), free(l->re), free(l->is_re);
}

static int list_add(qz_info *info, name_list *l, const char *s)
{
    int i = l->n, re = !strncmp(s, "re:", 3);
    l->s[i] = re ? s + 3 : s;
    l->is_re[i] = 0;
    if (re) {
        size_t n = strlen(s);
        char *pat = malloc(n + 4);
        if (!pat) return -1;
        snprintf(pat, n + 4, "^(%s)", s + 3);
        l->is_re[i] = regcomp(&l->re[i], pat, REG_EXTENDED | REG_NOSUB) == 0;
        free(pat);
        if (!l->is_re[i]) {
            add_warning(info, "list entry '%s' is not a POSIX extended regular expression: not applied", s);
            return 0;
        }
    }
    l->n++;
    return 0;
}

/* The entries of quantization_config's qz_modules_not_quantized,
 * modules_to_not_convert, ignore and sparsity_config.ignore. */
static int list_read(qz_info *info, const cJSON *config, name_list *l, qz_error *err)
{
    const cJSON *qc = get(config, "quantization_config");
    const cJSON *arrays[4] = {get(qc, "qz_modules_not_quantized"), get(qc, "modules_to_not_convert"), get(qc, "ignore"),
                              get(get(qc, "sparsity_config"), "ignore")};
    int cap = 0;
    for (int a = 0; a < 4; a++) cap += cJSON_IsArray(arrays[a]) ? cJSON_GetArraySize(arrays[a]) : 0;
    memset(l, 0, sizeof *l);
    l->s = qz_calloc_array((size_t)cap + 1, sizeof *l->s);
    l->re = qz_calloc_array((size_t)cap + 1, sizeof *l->re);
    l->is_re = qz_calloc_array((size_t)cap + 1, 1);
    if (!l->s || !l->re || !l->is_re) return qz_fail(err, QZ_EINTERNAL, "out of memory");
    for (int a = 0; a < 4; a++) {
        const cJSON *e;
        if (!cJSON_IsArray(arrays[a])) continue;
        cJSON_ArrayForEach(e, arrays[a])
            if (cJSON_IsString(e) && list_add(info, l, e->valuestring)) return qz_fail(err, QZ_EINTERNAL, "out of memory");
    }
    return QZ_OK;
}

static int list_match(const name_list *l, const char *module)
{
    for (int i = 0; i < l->n; i++)
        if (l->is_re[i] ? regexec(&l->re[i], module, 0, NULL, 0) == 0 : strstr(module, l->s[i]) != NULL) return 1;
    return 0;
}

/* ---------------------------------------------------------- tensor census */

/* The decoder linear a tensor belongs to: returns the suffix after
 * "model.layers.<i>.<linear>." and sets *layer, *id; NULL when none. */
static const char *linear_of(const char *name, int64_t n_layers, int64_t *layer, int *id)
{
    static const char pre[] = "model.layers.";
    if (strncmp(name, pre, sizeof pre - 1) || !isdigit((unsigned char)name[sizeof pre - 1])) return NULL;
    char *end;
    long long i = strtoll(name + sizeof pre - 1, &end, 10);
    if (*end != '.' || i >= n_layers) return NULL;
    for (int k = 0; k < QZ_LIN_COUNT; k++) {
        const char *ln = qz_linear_name((qz_linear_id)k);
        size_t n = strlen(ln);
        if (!strncmp(end + 1, ln, n) && end[1 + n] == '.') {
            *layer = i, *id = k;
            return end + 2 + n;
        }
    }
    return NULL;
}

/* The storage bit a tensor's suffix and dtype show, or 0; ggml: a GGUF
 * weight stored in a ggml block type. */
static unsigned storage_bit(const char *suffix, qz_dtype dt, int ggml)
{
    if (!strcmp(suffix, "qweight")) return 1u << QZ_STORE_PACKED;
    if (ggml && !strcmp(suffix, "weight")) return 1u << QZ_STORE_GGML;
    if (!strcmp(suffix, "compressed")) return 1u << QZ_STORE_SPARSE24;
    if (strcmp(suffix, "weight")) return 0;
    return dt == QZ_DTYPE_I8 ? 1u << QZ_STORE_INT8 : is_float(dt) ? 1u << QZ_STORE_FLOAT : 0;
}

/* Sums tensor bytes (all, and per linear) and records per (layer, linear)
 * which storage tensors exist in seen[layer * QZ_LIN_COUNT + id]. */
/* Counts t under its stored type in info->types. */
static void count_type(qz_info *info, const char *type, const qz_st_tensor *t, size_t bytes)
{
    int i = 0;
    while (i < info->n_types && strcmp(info->types[i].type, type)) i++;
    if (i == QZ_INFO_MAX_TYPES) return;
    if (i == info->n_types) info->types[info->n_types++].type = type;
    info->types[i].tensors++;
    info->types[i].elems += t->numel;
    info->types[i].bytes += bytes;
}

/* The stored type of linear id, or "mixed" when layers differ. */
static void note_linear_type(qz_info_linear *li, const char *type)
{
    if (!li->stored_type) li->stored_type = type;
    else if (strcmp(li->stored_type, type)) li->stored_type = "mixed";
}

static void census(qz_info *info, const qz_hf_model *hf, uint8_t *seen)
{
    for (int64_t k = 0; k < qz_hf_model_n_tensors(hf); k++) {
        const qz_st_tensor *t = qz_hf_model_tensor_at(hf, k);
        size_t bytes = qz_hf_model_stored_bytes(hf, t);
        const char *type = qz_hf_model_stored_type(hf, t);
        int64_t layer;
        int id;
        info->n_tensors++;
        info->tensor_bytes += bytes;
        count_type(info, type, t, bytes);
        const char *suffix = linear_of(t->name, info->cfg.n_layers, &layer, &id);
        if (!suffix) continue;
        info->lin[id].bytes += bytes;
        info->decoder_bytes += bytes;
        if (!strcmp(suffix, "weight") || !strcmp(suffix, "qweight") || !strcmp(suffix, "compressed")) note_linear_type(&info->lin[id], type);
        seen[layer * QZ_LIN_COUNT + id] |= (uint8_t)storage_bit(suffix, t->dtype, hf->gguf && strcmp(type, "F32") && strcmp(type, "F16") && strcmp(type, "BF16"));
    }
}

/* ------------------------------------------------------------- zero count */

/* Exact zeros (+0, -0) among n little-endian floats of esize bytes. */
static int64_t zero_floats(const unsigned char *p, int64_t n, size_t esize)
{
    int64_t z = 0;
    for (int64_t i = 0; i < n; i++, p += esize) {
        unsigned bits = p[esize - 1] & 0x7fu;
        for (size_t b = 0; b + 1 < esize; b++) bits |= p[b];
        z += bits == 0;
    }
    return z;
}

static qz_st_tensor *find2(const qz_hf_model *hf, const char *lin, const char *suffix)
{
    char name[640];
    snprintf(name, sizeof name, "%s.%s", lin, suffix);
    return qz_hf_model_find(hf, name);
}

/* Zeros of a 2:4 linear: the n - kept positions the bitmask drops, plus the
 * kept values that are zero. */
static int zeros_sparse24(const qz_hf_model *hf, const char *lin, int64_t n, int64_t *zeros, qz_error *err)
{
    const qz_st_tensor *c = find2(hf, lin, "compressed"), *m = find2(hf, lin, "bitmask");
    if (!m) return qz_fail(err, QZ_EINPUT, "%s: tensor '%s.bitmask' is missing (sparse-24-bitmask stores compressed, bitmask, shape)",
                           hf->dir, lin);
    if (!is_float(c->dtype))
        return qz_fail(err, QZ_EINPUT, "%s: tensor '%s.compressed' is %s; float values expected", hf->dir, lin, qz_dtype_name(c->dtype));
    int64_t kept = 0;
    const unsigned char *b = m->data;
    for (size_t i = 0; i < m->nbytes; i++) kept += __builtin_popcount(b[i]);
    if (kept != c->numel || kept > n)
        return qz_fail(err, QZ_EINPUT, "%s: '%s': the bitmask keeps %lld values, compressed holds %lld, the weight has %lld", hf->dir, lin,
                       (long long)kept, (long long)c->numel, (long long)n);
    *zeros = n - kept + zero_floats(c->data, c->numel, qz_dtype_size(c->dtype));
    return QZ_OK;
}

static int zeros_of(qz_hf_model *hf, const char *lin, qz_info_storage s, int64_t n, int64_t *zeros, qz_error *err)
{
    if (s == QZ_STORE_SPARSE24) return zeros_sparse24(hf, lin, n, zeros, err);
    qz_st_tensor *w = find2(hf, lin, "weight");
    if (w->numel != n)
        return qz_fail(err, QZ_EINPUT, "%s: tensor '%s.weight' has %lld elements; config.json says out x in = %lld", hf->dir, lin,
                       (long long)w->numel, (long long)n);
    int rc = qz_hf_model_get(hf, w->name, &w, err); /* GGUF: dequantizes */
    if (rc == QZ_OK) *zeros = zero_floats(w->data, w->numel, qz_dtype_size(w->dtype));
    qz_hf_model_release(hf, w);
    return rc;
}

/* --------------------------------------------------------- per linear */

/* Layers of one linear that disagree with the format or the config lists. */
typedef struct disagreements {
    int64_t unlisted_float;  /* float weight, not in any not-quantized list */
    int64_t listed_packed;   /* listed, but stored quantized */
    int64_t foreign;         /* quantized storage the format does not use */
} disagreements;

static qz_info_storage format_storage(qz_info_format f)
{
    switch (f) {
    case QZ_INFO_GPTQ:
    case QZ_INFO_GPTQ_V2:
    case QZ_INFO_AWQ_GEMM: return QZ_STORE_PACKED;
    case QZ_INFO_CT_INT: return QZ_STORE_INT8;
    case QZ_INFO_CT_SPARSE24: return QZ_STORE_SPARSE24;
    case QZ_INFO_GGUF: return QZ_STORE_GGML;
    default: return QZ_STORE_FLOAT;
    }
}

/* Storage by loading priority (as model.c reads it): packed, 2:4, int8, float. */
static int storage_of(unsigned seen)
{
    static const qz_info_storage order[] = {QZ_STORE_PACKED, QZ_STORE_SPARSE24, QZ_STORE_INT8, QZ_STORE_GGML, QZ_STORE_FLOAT};
    for (int i = 0; i < (int)(sizeof order / sizeof *order); i++)
        if (seen & (1u << order[i])) return (int)order[i];
    return -1;
}

static int classify(qz_info *info, qz_hf_model *hf, int64_t layer, int id, unsigned seen, const name_list *l,
                    disagreements *d, qz_error *err)
{
    qz_info_linear *li = &info->lin[id];
    char lin[600];
    snprintf(lin, sizeof lin, "model.layers.%lld.%s", (long long)layer, qz_linear_name((qz_linear_id)id));
    int s = storage_of(seen);
    if (s < 0)
        return qz_fail(err, QZ_EINPUT, "%s: decoder linear '%s' has no weight tensor (looked for .weight, .qweight, .compressed)",
                       hf->dir, lin);
    li->layers[s]++;
    int listed = list_match(l, lin);
    li->listed_layers += listed;
    qz_info_storage want = format_storage(info->format);
    d->foreign += s != QZ_STORE_FLOAT && s != (int)want;
    if (info->format != QZ_INFO_FLOAT && info->format != QZ_INFO_GGUF) { /* GGUF has no not-quantized lists */
        d->unlisted_float += s == QZ_STORE_FLOAT && !listed;
        d->listed_packed += s != QZ_STORE_FLOAT && listed;
    }
    if (s != QZ_STORE_FLOAT && s != QZ_STORE_SPARSE24 && s != QZ_STORE_GGML) return QZ_OK;
    int64_t zeros = 0, n = li->out * li->in;
    int rc = zeros_of(hf, lin, (qz_info_storage)s, n, &zeros, err);
    if (rc == QZ_OK && s == QZ_STORE_SPARSE24) info->bits = (int)(8 * qz_dtype_size(find2(hf, lin, "compressed")->dtype));
    li->float_weights += n;
    li->zero_weights += zeros;
    return rc;
}

static void warn_disagreements(qz_info *info, int id, const disagreements *d)
{
    const char *name = qz_linear_name((qz_linear_id)id), *fmt = qz_info_format_name(info);
    long long L = (long long)info->cfg.n_layers;
    if (d->unlisted_float)
        add_warning(info,
                    "%s: stored in floating point in %lld of %lld layers but named in no not-quantized/ignore list of "
                    "quantization_config",
                    name, (long long)d->unlisted_float, L);
    if (d->listed_packed)
        add_warning(info, "%s: listed as not quantized/ignored in quantization_config but stored compressed in %lld of %lld layers", name,
                    (long long)d->listed_packed, L);
    if (d->foreign)
        add_warning(info, "%s: %lld of %lld layers use a storage that format %s does not have", name, (long long)d->foreign, L, fmt);
}

static int inspect_linears(qz_info *info, qz_hf_model *hf, const uint8_t *seen, qz_error *err)
{
    name_list l;
    int rc = list_read(info, hf->config_json, &l, err);
    for (int id = 0; id < QZ_LIN_COUNT && rc == QZ_OK; id++) {
        disagreements d = {0};
        for (int64_t i = 0; i < info->cfg.n_layers && rc == QZ_OK; i++)
            rc = classify(info, hf, i, id, seen[i * QZ_LIN_COUNT + id], &l, &d, err);
        warn_disagreements(info, id, &d);
    }
    list_free(&l);
    return rc;
}

/* ------------------------------------------------------------------ totals */

static void totals(qz_info *info)
{
    const qz_model_config *c = &info->cfg;
    for (int id = 0; id < QZ_LIN_COUNT; id++) {
        qz_info_linear *li = &info->lin[id];
        info->decoder_weights += li->out * li->in * c->n_layers;
        info->float_weights += li->float_weights;
        info->zero_weights += li->zero_weights;
    }
    info->params = qz_model_param_count(c);
    info->bpw_decoder = 8.0 * (double)info->decoder_bytes / (double)info->decoder_weights;
    info->bpw_file = 8.0 * (double)info->tensor_bytes / (double)info->params;
}

int qz_inspect_dir(qz_info *info, const char *dir, qz_error *err)
{
    memset(info, 0, sizeof *info);
    qz_hf_model *hf = NULL;
    uint8_t *seen = NULL;
    char where[4200];
    snprintf(where, sizeof where, "%s/config.json", dir);
    int rc = qz_hf_model_open(&hf, dir, err);
    if (rc == QZ_OK) {
        info->cfg = hf->cfg;
        rc = read_format(info, hf->config_json, where, err);
        if (hf->gguf) info->format = QZ_INFO_GGUF, info->gguf_version = (int)qz_gguf_version(hf->gguf);
    }
    const qz_st_tensor *emb = rc == QZ_OK ? qz_hf_model_find(hf, "model.embed_tokens.weight") : NULL;
    if (rc == QZ_OK && (!emb || !is_float(emb->dtype)))
        rc = qz_fail(err, QZ_EINPUT, "%s: no floating-point 'model.embed_tokens.weight'", dir);
    if (rc == QZ_OK) {
        info->float_dtype = emb->dtype;
        if (!info->quantized) info->bits = (int)(8 * qz_dtype_size(emb->dtype));
        for (int id = 0; id < QZ_LIN_COUNT; id++)
            info->lin[id].out = qz_linear_out(&info->cfg, (qz_linear_id)id), info->lin[id].in = qz_linear_in(&info->cfg, (qz_linear_id)id);
        seen = qz_calloc_array((size_t)info->cfg.n_layers, QZ_LIN_COUNT);
        rc = seen ? QZ_OK : qz_fail(err, QZ_EINTERNAL, "out of memory");
    }
    if (rc == QZ_OK) {
        census(info, hf, seen);
        rc = inspect_linears(info, hf, seen, err);
    }
    if (rc == QZ_OK) totals(info);
    free(seen);
    qz_hf_model_free(hf);
    return rc;
}

/* ---------------------------------------------------------------- reports */

/* The storage every layer uses, or "mixed". */
static const char *storage_label(const qz_info_linear *li, int64_t n_layers)
{
    for (int s = 0; s < QZ_STORE_COUNT; s++)
        if (li->layers[s] == n_layers) return qz_info_storage_name((qz_info_storage)s);
    return "mixed";
}

static double linear_bpw(const qz_info_linear *li, int64_t n_layers)
{
    return 8.0 * (double)li->bytes / (double)(li->out * li->in * n_layers);
}

static const char *granularity(const qz_info *info)
{
    return info->group_size > 0 ? "group" : info->group_size < 0 ? "channel" : "tensor";
}

static int add_num(cJSON *o, const char *key, double v)
{
    return cJSON_AddNumberToObject(o, key, v) != NULL;
}

/* v, or null when !present. */
static int add_opt_num(cJSON *o, const char *key, int present, double v)
{
    return present ? add_num(o, key, v) : cJSON_AddNullToObject(o, key) != NULL;
}

static int add_opt_str(cJSON *o, const char *key, const char *s)
{
    return (s ? cJSON_AddStringToObject(o, key, s) : cJSON_AddNullToObject(o, key)) != NULL;
}

static int add_opt_bool(cJSON *o, const char *key, int present, int v)
{
    return (present ? cJSON_AddBoolToObject(o, key, v) : cJSON_AddNullToObject(o, key)) != NULL;
}

static cJSON *linear_json(const qz_info *info, int id)
{
    const qz_info_linear *li = &info->lin[id];
    int64_t L = info->cfg.n_layers;
    cJSON *o = cJSON_CreateObject();
    int ok = cJSON_AddStringToObject(o, "name", qz_linear_name((qz_linear_id)id)) && add_num(o, "out", (double)li->out) &&
             add_num(o, "in", (double)li->in) && cJSON_AddStringToObject(o, "storage", storage_label(li, L)) &&
             add_num(o, "float_layers", (double)li->layers[QZ_STORE_FLOAT]) && add_num(o, "bytes", (double)li->bytes) &&
             add_num(o, "bpw", linear_bpw(li, L)) && add_num(o, "zero_weights", (double)li->zero_weights) &&
             add_opt_str(o, "stored_type", li->stored_type);
    if (!ok) cJSON_Delete(o);
    return ok ? o : NULL;
}

/* "linears", "fp_modules" and "warnings" arrays. */
static int add_arrays(cJSON *o, const qz_info *info)
{
    cJSON *lin = cJSON_AddArrayToObject(o, "linears"), *fp = cJSON_AddArrayToObject(o, "fp_modules");
    cJSON *warn = cJSON_AddArrayToObject(o, "warnings");
    int ok = lin && fp && warn;
    for (int id = 0; id < QZ_LIN_COUNT && ok; id++) {
        cJSON *l = linear_json(info, id);
        ok = l != NULL;
        cJSON_AddItemToArray(lin, l);
        if (ok && info->lin[id].layers[QZ_STORE_FLOAT])
            ok = cJSON_AddItemToArray(fp, cJSON_CreateString(qz_linear_name((qz_linear_id)id)));
    }
    for (int i = 0; i < info->n_warnings && ok; i++) ok = cJSON_AddItemToArray(warn, cJSON_CreateString(info->warnings[i]));
    cJSON *types = cJSON_AddArrayToObject(o, "tensor_types");
    ok = ok && types;
    for (int i = 0; i < info->n_types && ok; i++) {
        const qz_info_type *t = &info->types[i];
        cJSON *e = cJSON_CreateObject();
        ok = cJSON_AddItemToArray(types, e) && cJSON_AddStringToObject(e, "type", t->type) && add_num(e, "tensors", (double)t->tensors) &&
             add_num(e, "elements", (double)t->elems) && add_num(e, "bytes", (double)t->bytes) &&
             add_num(e, "bpw", t->elems ? 8.0 * (double)t->bytes / (double)t->elems : 0);
    }
    return ok;
}

cJSON *qz_inspect_json(const qz_info *info, const char *dir)
{
    const qz_model_config *c = &info->cfg;
    int q = info->quantized;
    cJSON *o = cJSON_CreateObject();
    int ok = cJSON_AddStringToObject(o, "model", dir) && cJSON_AddStringToObject(o, "format", qz_info_format_name(info)) &&
             add_opt_str(o, "quant_method", info->quant_method) &&
             cJSON_AddStringToObject(o, "dtype", qz_dtype_name(info->float_dtype)) && add_num(o, "bits", info->bits) &&
             add_opt_num(o, "group_size", q, (double)info->group_size) &&
             add_opt_str(o, "granularity", q ? granularity(info) : NULL) &&
             add_opt_bool(o, "sym", q, info->sym) && add_opt_bool(o, "desc_act", q, info->desc_act) &&
             cJSON_AddStringToObject(o, "architecture", qz_arch_name(c->arch)) && add_num(o, "layers", (double)c->n_layers) &&
             add_num(o, "tensors", (double)info->n_tensors) && add_num(o, "tensor_bytes", (double)info->tensor_bytes) &&
             add_num(o, "params", (double)info->params) && add_num(o, "decoder_weights", (double)info->decoder_weights) &&
             add_num(o, "decoder_bytes", (double)info->decoder_bytes) && add_num(o, "bpw_decoder", info->bpw_decoder) &&
             add_num(o, "bpw_file", info->bpw_file) && add_num(o, "float_weights", (double)info->float_weights) &&
             add_num(o, "zero_weights", (double)info->zero_weights) &&
             add_opt_num(o, "sparsity", info->float_weights > 0, (double)info->zero_weights / (double)info->float_weights) &&
             add_arrays(o, info);
    if (!ok) cJSON_Delete(o);
    return ok ? o : NULL;
}

static void text_format(FILE *f, const qz_info *info)
{
    fprintf(f, "format %s", qz_info_format_name(info));
    if (info->format == QZ_INFO_GGUF) fprintf(f, " (GGUF v%d; read dequantized to F32)", info->gguf_version);
    if (info->quant_method) fprintf(f, " (quant_method %s)", info->quant_method);
    if (info->format == QZ_INFO_CT_SPARSE24) fprintf(f, ": 2:4 sparse, %d-bit float values", info->bits);
    if (!info->quantized) {
        fputc('\n', f);
        return;
    }
    fprintf(f, ": %d-bit, ", info->bits);
    if (info->group_size > 0) fprintf(f, "group %lld", (long long)info->group_size);
    else fprintf(f, "per %s", info->group_size < 0 ? "output channel" : "tensor");
    fprintf(f, ", %s, act-order %s\n", info->sym ? "symmetric" : "asymmetric", info->desc_act ? "on" : "off");
}

static void text_linears(FILE *f, const qz_info *info)
{
    int64_t L = info->cfg.n_layers;
    fprintf(f, "%-18s %11s  %-8s %-6s %12s %12s %8s\n", "linear", "out x in", "storage", "type", "float layers", "bytes", "bpw");
    for (int id = 0; id < QZ_LIN_COUNT; id++) {
        const qz_info_linear *li = &info->lin[id];
        char shape[48];
        snprintf(shape, sizeof shape, "%lld x %lld", (long long)li->out, (long long)li->in);
        fprintf(f, "%-18s %11s  %-8s %-6s %7lld of %lld %12zu %8.4f\n", qz_linear_name((qz_linear_id)id), shape, storage_label(li, L),
                li->stored_type ? li->stored_type : "-", (long long)li->layers[QZ_STORE_FLOAT], (long long)L, li->bytes, linear_bpw(li, L));
    }
    fprintf(f, "left in floating point:");
    int any = 0;
    for (int id = 0; id < QZ_LIN_COUNT; id++)
        if (info->lin[id].layers[QZ_STORE_FLOAT]) fprintf(f, " %s", qz_linear_name((qz_linear_id)id)), any = 1;
    fprintf(f, "%s\n", any ? "" : " none");
}

char *qz_inspect_text(const qz_info *info, const char *dir)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return NULL;
    const qz_model_config *c = &info->cfg;
    fprintf(f, "model %s\n", dir);
    text_format(f, info);
    fprintf(f, "%s: %lld layers, hidden %lld, intermediate %lld, %lld heads / %lld KV heads, vocab %lld, %s embeddings, floats %s\n",
            qz_arch_name(c->arch), (long long)c->n_layers, (long long)c->hidden, (long long)c->intermediate, (long long)c->n_heads,
            (long long)c->n_kv_heads, (long long)c->vocab, c->tie_embeddings ? "tied" : "untied", qz_dtype_name(info->float_dtype));
    text_linears(f, info);
    if (info->float_weights)
        fprintf(f, "exact zeros in %s decoder linears: %lld of %lld (sparsity %.4f%%), counted on the %s tensors\n",
                info->format == QZ_INFO_GGUF ? "the" : "float-stored",
                (long long)info->zero_weights, (long long)info->float_weights,
                100.0 * (double)info->zero_weights / (double)info->float_weights, info->format == QZ_INFO_GGUF ? "dequantized" : "mmap'ed");
    fprintf(f, "bits per weight, decoder linears: %.4f = 8 x %zu bytes / %lld weights\n", info->bpw_decoder, info->decoder_bytes,
            (long long)info->decoder_weights);
    fprintf(f, "bits per weight, whole file:      %.4f = 8 x %zu bytes in %lld tensors / %lld parameters\n", info->bpw_file,
            info->tensor_bytes, (long long)info->n_tensors, (long long)info->params);
    fprintf(f, "tensors by stored type:");
    for (int i = 0; i < info->n_types; i++)
        fprintf(f, "%s %s x %lld (%.4f bpw)", i ? ";" : "", info->types[i].type, (long long)info->types[i].tensors,
                info->types[i].elems ? 8.0 * (double)info->types[i].bytes / (double)info->types[i].elems : 0.0);
    fputc('\n', f);
    for (int i = 0; i < info->n_warnings; i++) fprintf(f, "warning: %s\n", info->warnings[i]);
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}
