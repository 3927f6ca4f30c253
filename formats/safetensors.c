/* safetensors.c - validated mmap reader and streaming atomic writer for the
 * safetensors format (huggingface/safetensors docs, "Format"). Leaves out:
 * big-endian hosts, the F8/F4 dtypes. See safetensors.h. */
#include "safetensors.h"

#include "mapped_file.h"

#include "half.h" /* the one libquant leaf formats uses: FP16/BF16 bits */
#include "json_num.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zlib.h>

/* ------------------------------------------------------------------ dtypes */

static const struct {
    const char *name;
    size_t size;
} dtype_traits[QZ_DTYPE_COUNT] = {
    [QZ_DTYPE_F32] = {"F32", 4}, [QZ_DTYPE_F16] = {"F16", 2},   [QZ_DTYPE_BF16] = {"BF16", 2},
    [QZ_DTYPE_I8] = {"I8", 1},   [QZ_DTYPE_U8] = {"U8", 1},     [QZ_DTYPE_I16] = {"I16", 2},
    [QZ_DTYPE_I32] = {"I32", 4}, [QZ_DTYPE_I64] = {"I64", 8},   [QZ_DTYPE_BOOL] = {"BOOL", 1},
    [QZ_DTYPE_F64] = {"F64", 8},
};

const char *qz_dtype_name(qz_dtype t)
{
    return (unsigned)t < QZ_DTYPE_COUNT ? dtype_traits[t].name : "?";
}

size_t qz_dtype_size(qz_dtype t)
{
    return (unsigned)t < QZ_DTYPE_COUNT ? dtype_traits[t].size : 0;
}

int qz_dtype_from_name(const char *s)
{
    for (int i = 0; i < QZ_DTYPE_COUNT; i++)
        if (strcmp(s, dtype_traits[i].name) == 0) return i;
    return -1;
}

void qz_dtype_round_f32(float *x, int64_t n, qz_dtype dt)
{
    if (dt == QZ_DTYPE_F16)
        for (int64_t i = 0; i < n; i++) x[i] = qz_fp16_to_fp32(qz_fp32_to_fp16(x[i]));
    else if (dt == QZ_DTYPE_BF16)
        for (int64_t i = 0; i < n; i++) x[i] = qz_bf16_to_fp32(qz_fp32_to_bf16(x[i]));
}

/* ------------------------------------------------------------------ reader */

static int cmp_tensor_name(const void *a, const void *b)
{
    return strcmp(((const qz_st_tensor *)a)->name, ((const qz_st_tensor *)b)->name);
}

/* Fills t from one header entry; span checks happen once all are parsed. */
static int parse_entry(const char *path, const cJSON *e, size_t data_size, qz_st_tensor *t,
                       size_t *begin, qz_error *err)
{
    const char *nm = e->string;
    if (!cJSON_IsObject(e)) return qz_fail(err, QZ_EINPUT, "%s: tensor '%s': header entry is not an object", path, nm);
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *off = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!cJSON_IsString(dt) || !cJSON_IsArray(sh) || !cJSON_IsArray(off) || cJSON_GetArraySize(off) != 2)
        return qz_fail(err, QZ_EINPUT, "%s: tensor '%s': needs string dtype, array shape and data_offsets [begin, end]", path, nm);
    int d = qz_dtype_from_name(dt->valuestring);
    if (d < 0)
        return qz_fail(err, QZ_EINPUT, "%s: tensor '%s': unknown dtype '%s' (known: F32 F16 BF16 F64 I8 U8 I16 I32 I64 BOOL)", path, nm, dt->valuestring);
    t->dtype = (qz_dtype)d;
    t->ndim = cJSON_GetArraySize(sh);
    if (t->ndim > QZ_ST_MAX_DIMS)
        return qz_fail(err, QZ_EINPUT, "%s: tensor '%s': %d dimensions, at most %d supported", path, nm, t->ndim, QZ_ST_MAX_DIMS);
    int64_t numel = 1;
    for (int i = 0; i < t->ndim; i++) {
        if (!qz_json_int(cJSON_GetArrayItem(sh, i), 0, INT64_C(9000000000000000), &t->shape[i]))
            return qz_fail(err, QZ_EINPUT, "%s: tensor '%s': shape[%d] is not a non-negative integer", path, nm, i);
        if (qz_mul_overflow(numel, t->shape[i], &numel))
            return qz_fail(err, QZ_EINPUT, "%s: tensor '%s': shape overflows", path, nm);
    }
    double b = cJSON_GetArrayItem(off, 0)->valuedouble, en = cJSON_GetArrayItem(off, 1)->valuedouble;
    if (!cJSON_IsNumber(cJSON_GetArrayItem(off, 0)) || !cJSON_IsNumber(cJSON_GetArrayItem(off, 1)) ||
        b < 0 || en < b || en > (double)data_size || b != (double)(uint64_t)b || en != (double)(uint64_t)en)
        return qz_fail(err, QZ_EINPUT, "%s: tensor '%s': data_offsets [%.0f, %.0f] outside the data region of %zu bytes", path, nm, b, en, data_size);
    size_t span = (size_t)en - (size_t)b;
    int64_t need;
    if (qz_mul_overflow(numel, (int64_t)qz_dtype_size(t->dtype), &need) || (uint64_t)need != span)
        return qz_fail(err, QZ_EINPUT, "%s: tensor '%s': shape needs %lld bytes of %s but data_offsets span %zu", path, nm,
                       (long long)need, qz_dtype_name(t->dtype), span);
    t->numel = numel;
    t->nbytes = span;
    *begin = (size_t)b;
    return QZ_OK;
}

static int cmp_size(const void *a, const void *b)
{
    size_t x = ((const size_t *)a)[0], y = ((const size_t *)b)[0];
    return (x > y) - (x < y);
}

/* Spans sorted by begin must not overlap: pairs of (begin, end). Empty
 * spans hold no byte, so they overlap nothing (Hugging Face writes a
 * zero-size tensor as [0, 0) or at the end of the previous one). */
static int check_overlaps(const char *path, size_t *spans, int64_t n, qz_error *err)
{
    int64_t m = 0;
    for (int64_t i = 0; i < n; i++)
        if (spans[2 * i + 1] > spans[2 * i]) spans[2 * m] = spans[2 * i], spans[2 * m + 1] = spans[2 * i + 1], m++;
    qsort(spans, (size_t)m, 2 * sizeof(size_t), cmp_size);
    for (int64_t i = 1; i < m; i++)
        if (spans[2 * i] < spans[2 * i - 1])
            return qz_fail(err, QZ_EINPUT, "%s: tensor data overlaps: bytes [%zu, %zu) and [%zu, %zu)", path,
                           spans[2 * i - 2], spans[2 * i - 1], spans[2 * i], spans[2 * i + 1]);
    return QZ_OK;
}

static int parse_header(qz_st_file *f, const char *json, size_t len, size_t data_size, qz_error *err)
{
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return qz_fail(err, QZ_EINPUT, "%s: header is not a valid JSON object", f->path);
    }
    int64_t n = 0, n_meta = 0;
    for (cJSON *e = root->child; e; e = e->next) n_meta += strcmp(e->string, "__metadata__") == 0;
    n = cJSON_GetArraySize(root) - n_meta;
    if (n_meta > 1 || n > QZ_ST_MAX_TENSORS) {
        cJSON_Delete(root);
        return n_meta > 1 ? qz_fail(err, QZ_EINPUT, "%s: __metadata__ appears %lld times in the header", f->path, (long long)n_meta)
                          : qz_fail(err, QZ_EINPUT, "%s: %lld tensors, more than the limit of %d", f->path, (long long)n, QZ_ST_MAX_TENSORS);
    }
    f->tensors = qz_calloc_array((size_t)n, sizeof *f->tensors);
    size_t *spans = qz_malloc_array((size_t)n * 2, sizeof *spans);
    int rc = f->tensors && spans ? QZ_OK : qz_fail(err, QZ_EINTERNAL, "%s: out of memory", f->path);
    for (cJSON *e = root->child; e && rc == QZ_OK; e = e->next) {
        if (strcmp(e->string, "__metadata__") == 0) {
            for (cJSON *m = e->child; m && rc == QZ_OK; m = m->next)
                if (!cJSON_IsString(m)) rc = qz_fail(err, QZ_EINPUT, "%s: __metadata__ value '%s' is not a string", f->path, m->string);
            if (!cJSON_IsObject(e)) rc = qz_fail(err, QZ_EINPUT, "%s: __metadata__ is not an object", f->path);
            f->metadata = cJSON_Duplicate(e, 1);
            continue;
        }
        qz_st_tensor *t = &f->tensors[f->n_tensors];
        size_t begin = 0;
        rc = parse_entry(f->path, e, data_size, t, &begin, err);
        if (rc) break;
        t->name = strdup(e->string);
        t->data = f->data_start + begin;
        spans[2 * f->n_tensors] = begin;
        spans[2 * f->n_tensors + 1] = begin + t->nbytes;
        f->n_tensors++;
    }
    if (rc == QZ_OK) rc = check_overlaps(f->path, spans, f->n_tensors, err);
    if (rc == QZ_OK) {
        qsort(f->tensors, (size_t)f->n_tensors, sizeof *f->tensors, cmp_tensor_name);
        for (int64_t i = 1; i < f->n_tensors; i++)
            if (strcmp(f->tensors[i].name, f->tensors[i - 1].name) == 0) {
                rc = qz_fail(err, QZ_EINPUT, "%s: tensor '%s' appears twice in the header", f->path, f->tensors[i].name);
                break;
            }
    }
    free(spans);
    cJSON_Delete(root);
    return rc;
}


int qz_st_open(qz_st_file **out, const char *path, qz_error *err)
{
    *out = NULL;
    qz_st_file *f = calloc(1, sizeof *f);
    if (!f || !(f->path = strdup(path))) {
        free(f);
        return qz_fail(err, QZ_EINTERNAL, "%s: out of memory", path);
    }
    int rc = qz_map_readonly(f->path, 8, "a safetensors header", &f->map, &f->map_size, err);
    if (rc == QZ_OK) {
        const unsigned char *p = f->map;
        uint64_t hlen = 0;
        for (int i = 7; i >= 0; i--) hlen = hlen << 8 | p[i];
        if (hlen > f->map_size - 8)
            rc = qz_fail(err, QZ_EINPUT, "%s: header length %llu runs past the end of the %zu-byte file (truncated or not safetensors)",
                         path, (unsigned long long)hlen, f->map_size);
        else if (hlen > QZ_ST_MAX_HEADER)
            rc = qz_fail(err, QZ_EINPUT, "%s: header length %llu is more than the limit of %u bytes", path, (unsigned long long)hlen,
                         QZ_ST_MAX_HEADER);
        else {
            f->data_start = p + 8 + hlen;
            rc = parse_header(f, (const char *)p + 8, (size_t)hlen, f->map_size - 8 - (size_t)hlen, err);
        }
    }
    if (rc != QZ_OK) {
        qz_st_close(f);
        return rc;
    }
    *out = f;
    return QZ_OK;
}

void qz_st_close(qz_st_file *f)
{
    if (!f) return;
    for (int64_t i = 0; i < f->n_tensors; i++) free(f->tensors[i].name);
    free(f->tensors);
    cJSON_Delete(f->metadata);
    if (f->map) munmap(f->map, f->map_size);
    free(f->path);
    free(f);
}

qz_st_tensor *qz_st_find(const qz_st_file *f, const char *name)
{
    qz_st_tensor key = {.name = (char *)name};
    return bsearch(&key, f->tensors, (size_t)f->n_tensors, sizeof key, cmp_tensor_name);
}

const void *qz_st_aligned_data(const qz_st_tensor *t, size_t align, void **copy)
{
    *copy = NULL;
    if ((uintptr_t)t->data % align == 0) return t->data;
    *copy = malloc(t->nbytes ? t->nbytes : 1);
    if (*copy) memcpy(*copy, t->data, t->nbytes);
    return *copy;
}

const char *qz_st_metadata(const qz_st_file *f, const char *key)
{
    const cJSON *v = f->metadata ? cJSON_GetObjectItemCaseSensitive(f->metadata, key) : NULL;
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

uint32_t qz_crc32(uint32_t crc, const void *data, size_t n)
{
    uLong c = crc;
    const unsigned char *p = data;
    while (n) { /* zlib takes uInt lengths */
        uInt chunk = n > (1u << 30) ? (1u << 30) : (uInt)n;
        c = crc32(c, p, chunk);
        p += chunk;
        n -= chunk;
    }
    return (uint32_t)c;
}

int qz_st_get(qz_st_file *f, const char *name, qz_st_tensor **t, qz_error *err)
{
    *t = qz_st_find(f, name);
    if (!*t) return qz_fail(err, QZ_EINPUT, "%s: tensor '%s' not found", f->path, name);
    if ((*t)->crc_state) return QZ_OK;
    char key[512];
    snprintf(key, sizeof key, "qz.crc32.%s", name);
    const char *stored = qz_st_metadata(f, key);
    if (stored) {
        uint32_t got = qz_crc32(0, (*t)->data, (*t)->nbytes);
        char hex[16];
        snprintf(hex, sizeof hex, "%08x", got);
        if (strcmp(hex, stored) != 0)
            return qz_fail(err, QZ_EINPUT, "%s: tensor '%s': CRC-32 %s does not match the stored %s (file corrupted)", f->path, name, hex, stored);
    }
    (*t)->crc_state = 1;
    return QZ_OK;
}

/* ------------------------------------------------------------------ writer */

struct qz_st_writer {
    char *path, *tmp_path, *data_path;
    FILE *data;           /* tensor bytes, in order added */
    uint64_t data_size;
    cJSON *header;        /* tensors in order added, then metadata */
    cJSON *meta;
};

int qz_st_writer_open(qz_st_writer **out, const char *path, qz_error *err)
{
    *out = NULL;
    qz_st_writer *w = calloc(1, sizeof *w);
    size_t n = strlen(path) + 16;
    if (!w || !(w->path = strdup(path)) || !(w->tmp_path = malloc(n)) || !(w->data_path = malloc(n)) ||
        !(w->header = cJSON_CreateObject()) || !(w->meta = cJSON_CreateObject())) {
        qz_st_writer_free(w);
        return qz_fail(err, QZ_EINTERNAL, "%s: out of memory", path);
    }
    snprintf(w->tmp_path, n, "%s.tmp", path);
    snprintf(w->data_path, n, "%s.data.tmp", path);
    cJSON_AddStringToObject(w->meta, "format", "pt");
    w->data = fopen(w->data_path, "w+b");
    if (!w->data) {
        int e = errno;
        qz_st_writer_free(w);
        return qz_fail(err, QZ_EINTERNAL, "%s: cannot create: %s", path, strerror(e));
    }
    *out = w;
    return QZ_OK;
}

int qz_st_writer_set_meta(qz_st_writer *w, const char *key, const char *value, qz_error *err)
{
    cJSON_DeleteItemFromObjectCaseSensitive(w->meta, key);
    if (!cJSON_AddStringToObject(w->meta, key, value)) return qz_fail(err, QZ_EINTERNAL, "%s: out of memory", w->path);
    return QZ_OK;
}

int qz_st_writer_add(qz_st_writer *w, const char *name, qz_dtype dtype, int ndim,
                     const int64_t *shape, const void *data, size_t nbytes, qz_error *err)
{
    uint64_t numel = 1;
    for (int i = 0; i < ndim; i++) numel *= (uint64_t)shape[i];
    QZ_ASSERT(ndim >= 0 && ndim <= QZ_ST_MAX_DIMS && numel * qz_dtype_size(dtype) == nbytes);
    if (cJSON_GetObjectItemCaseSensitive(w->header, name))
        return qz_fail(err, QZ_EINTERNAL, "%s: tensor '%s' written twice", w->path, name);
    cJSON *e = cJSON_CreateObject(), *sh = cJSON_CreateArray(), *off = cJSON_CreateArray();
    for (int i = 0; i < ndim; i++) cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)shape[i]));
    cJSON_AddItemToArray(off, cJSON_CreateNumber((double)w->data_size));
    cJSON_AddItemToArray(off, cJSON_CreateNumber((double)(w->data_size + nbytes)));
    cJSON_AddStringToObject(e, "dtype", qz_dtype_name(dtype));
    cJSON_AddItemToObject(e, "shape", sh);
    cJSON_AddItemToObject(e, "data_offsets", off);
    cJSON_AddItemToObject(w->header, name, e);
    char key[512], hex[16];
    snprintf(key, sizeof key, "qz.crc32.%s", name);
    snprintf(hex, sizeof hex, "%08x", qz_crc32(0, data, nbytes));
    cJSON_AddStringToObject(w->meta, key, hex);
    if (nbytes && fwrite(data, 1, nbytes, w->data) != nbytes)
        return qz_fail(err, QZ_EINTERNAL, "%s: write failed: %s", w->data_path, strerror(errno));
    w->data_size += nbytes;
    return QZ_OK;
}

int qz_st_writer_add_f32(qz_st_writer *w, const char *name, const float *x, int ndim, const int64_t *shape,
                         qz_dtype dt, qz_error *err)
{
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    QZ_ASSERT(dt == QZ_DTYPE_F32 || dt == QZ_DTYPE_F16 || dt == QZ_DTYPE_BF16);
    if (dt == QZ_DTYPE_F32) return qz_st_writer_add(w, name, dt, ndim, shape, x, (size_t)n * 4, err);
    uint16_t *h = qz_malloc_array((size_t)n, sizeof *h);
    if (!h) return qz_fail(err, QZ_EINTERNAL, "out of memory writing %s", name);
    if (dt == QZ_DTYPE_BF16) qz_fp32_to_bf16_row(x, h, n);
    else qz_fp32_to_fp16_row(x, h, n);
    int rc = qz_st_writer_add(w, name, dt, ndim, shape, h, (size_t)n * 2, err);
    free(h);
    return rc;
}

/* Header JSON padded with spaces so the data region starts 8-byte aligned. */
static char *header_bytes(qz_st_writer *w, size_t *len)
{
    cJSON_AddItemReferenceToObject(w->header, "__metadata__", w->meta);
    char *json = cJSON_PrintUnformatted(w->header);
    cJSON_DeleteItemFromObjectCaseSensitive(w->header, "__metadata__");
    if (!json) return NULL;
    size_t n = strlen(json), padded = (n + 7) & ~(size_t)7;
    char *buf = realloc(json, padded ? padded : 1);
    if (!buf) {
        free(json);
        return NULL;
    }
    memset(buf + n, ' ', padded - n);
    *len = padded;
    return buf;
}

static int copy_stream(FILE *src, FILE *dst)
{
    char buf[1 << 16];
    size_t n;
    rewind(src);
    while ((n = fread(buf, 1, sizeof buf, src)) > 0)
        if (fwrite(buf, 1, n, dst) != n) return -1;
    return ferror(src) ? -1 : 0;
}

int qz_st_writer_finish(qz_st_writer *w, qz_error *err)
{
    size_t hlen = 0;
    char *hdr = header_bytes(w, &hlen);
    if (!hdr) return qz_fail(err, QZ_EINTERNAL, "%s: out of memory", w->path);
    FILE *out = fopen(w->tmp_path, "wb");
    int ok = out != NULL;
    unsigned char lenbuf[8];
    for (int i = 0; i < 8; i++) lenbuf[i] = (unsigned char)((uint64_t)hlen >> (8 * i));
    ok = ok && fflush(w->data) == 0 && fwrite(lenbuf, 1, 8, out) == 8 && fwrite(hdr, 1, hlen, out) == hlen &&
         copy_stream(w->data, out) == 0 && fflush(out) == 0 && fsync(fileno(out)) == 0;
    int e = errno;
    if (out && fclose(out) != 0) ok = 0;
    free(hdr);
    fclose(w->data); /* the data now lives in the final file */
    w->data = NULL;
    unlink(w->data_path);
    if (!ok || rename(w->tmp_path, w->path) != 0) {
        if (ok) e = errno;
        return qz_fail(err, QZ_EINTERNAL, "%s: cannot write: %s", w->path, strerror(e));
    }
    return QZ_OK;
}

void qz_st_writer_free(qz_st_writer *w)
{
    if (!w) return;
    if (w->data) fclose(w->data);
    if (w->data_path) unlink(w->data_path);
    if (w->tmp_path) unlink(w->tmp_path); /* gone already after a finish */
    cJSON_Delete(w->header);
    cJSON_Delete(w->meta);
    free(w->path);
    free(w->tmp_path);
    free(w->data_path);
    free(w);
}
