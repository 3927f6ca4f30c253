/* gguf.c - validated, mmap'ed, lazy reader of GGUF v2/v3 files (ggml's
 * docs/gguf.md and gguf.cpp; FORMATS-AND-ALGORITHMS.md §6a). One pass over
 * the header with a bounds-checked cursor: every count is checked against
 * the bytes left before anything is allocated for it, so a hostile header
 * costs at most memory proportional to the file. Leaves out: GGUF v1 (32-bit
 * counts, not written since 2023), big-endian files, tensor types without a
 * dequantizer in gguf_quants.c. See gguf.h. */
#include "gguf.h"

#include "mapped_file.h"

#include "gguf_quants.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

struct qz_gguf {
    char *path;
    void *map;
    size_t size;
    uint32_t version;
    size_t alignment;
    int64_t n_kv, n_tensors;
    qz_gguf_kv *kv;                /* file order */
    const qz_gguf_kv **kv_sorted;  /* by key */
    qz_gguf_tensor *tensors;       /* file order */
    const qz_gguf_tensor **tensors_sorted; /* by name */
};

static const char *vtype_names[QZ_GGUF_VTYPE_COUNT] = {
    [QZ_GGUF_UINT8] = "uint8",     [QZ_GGUF_INT8] = "int8",     [QZ_GGUF_UINT16] = "uint16", [QZ_GGUF_INT16] = "int16",
    [QZ_GGUF_UINT32] = "uint32",   [QZ_GGUF_INT32] = "int32",   [QZ_GGUF_FLOAT32] = "float32", [QZ_GGUF_BOOL] = "bool",
    [QZ_GGUF_STRING] = "string",   [QZ_GGUF_ARRAY] = "array",   [QZ_GGUF_UINT64] = "uint64", [QZ_GGUF_INT64] = "int64",
    [QZ_GGUF_FLOAT64] = "float64"};

/* Bytes of one scalar value; 0 for STRING and ARRAY. */
static const size_t vtype_sizes[QZ_GGUF_VTYPE_COUNT] = {
    [QZ_GGUF_UINT8] = 1,  [QZ_GGUF_INT8] = 1,  [QZ_GGUF_UINT16] = 2, [QZ_GGUF_INT16] = 2,  [QZ_GGUF_UINT32] = 4,
    [QZ_GGUF_INT32] = 4,  [QZ_GGUF_FLOAT32] = 4, [QZ_GGUF_BOOL] = 1, [QZ_GGUF_UINT64] = 8, [QZ_GGUF_INT64] = 8,
    [QZ_GGUF_FLOAT64] = 8};

const char *qz_gguf_vtype_name(qz_gguf_vtype t)
{
    return (unsigned)t < QZ_GGUF_VTYPE_COUNT ? vtype_names[t] : "?";
}

static int is_int_type(qz_gguf_vtype t)
{
    return t <= QZ_GGUF_INT32 || t == QZ_GGUF_UINT64 || t == QZ_GGUF_INT64;
}

/* ------------------------------------------------------------------ cursor */

typedef struct cursor {
    const unsigned char *p;
    size_t pos, size;
    const char *path;
    char what[200];     /* the field being read, for messages */
    qz_error *err;
} cursor;

static int need(cursor *c, uint64_t n)
{
    if (n <= c->size - c->pos) return QZ_OK;
    return qz_fail(c->err, QZ_EINPUT, "%s: %s: needs %llu bytes at offset %zu but the file has %zu (truncated?)", c->path, c->what,
                   (unsigned long long)n, c->pos, c->size);
}

static int rd_u32(cursor *c, uint32_t *v)
{
    int rc = need(c, 4);
    if (rc == QZ_OK) memcpy(v, c->p + c->pos, 4), c->pos += 4;
    return rc;
}

static int rd_u64(cursor *c, uint64_t *v)
{
    int rc = need(c, 8);
    if (rc == QZ_OK) memcpy(v, c->p + c->pos, 8), c->pos += 8;
    return rc;
}

static int rd_str(cursor *c, qz_gguf_str *s)
{
    uint64_t len;
    int rc = rd_u64(c, &len);
    if (rc == QZ_OK && len > c->size - c->pos)
        return qz_fail(c->err, QZ_EINPUT, "%s: %s: string length %llu at offset %zu runs past the end of the %zu-byte file", c->path,
                       c->what, (unsigned long long)len, c->pos - 8, c->size);
    if (rc == QZ_OK) {
        s->s = (const char *)c->p + c->pos;
        s->len = (size_t)len;
        c->pos += (size_t)len;
    }
    return rc;
}

/* count elements of at least min_bytes each must fit in the bytes left. */
static int check_count(cursor *c, uint64_t count, size_t min_bytes, const char *noun)
{
    if (count <= (c->size - c->pos) / min_bytes) return QZ_OK;
    return qz_fail(c->err, QZ_EINPUT, "%s: %s: %llu %s cannot fit in the %zu bytes left (at most %zu)", c->path, c->what,
                   (unsigned long long)count, noun, c->size - c->pos, (c->size - c->pos) / min_bytes);
}

/* ------------------------------------------------------------- key/values */

static int check_bools(cursor *c, const unsigned char *b, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        if (b[i] > 1) return qz_fail(c->err, QZ_EINPUT, "%s: %s: bool value %u (allowed: 0, 1)", c->path, c->what, b[i]);
    return QZ_OK;
}

/* count scalars of type t at the cursor. */
static int rd_scalars(cursor *c, qz_gguf_vtype t, uint64_t count, qz_gguf_kv *kv)
{
    int rc = check_count(c, count, vtype_sizes[t], "values");
    if (rc) return rc;
    kv->data = c->p + c->pos;
    c->pos += (size_t)count * vtype_sizes[t];
    return t == QZ_GGUF_BOOL ? check_bools(c, kv->data, count) : QZ_OK;
}

static int rd_array(cursor *c, qz_gguf_kv *kv)
{
    uint32_t et;
    int rc = rd_u32(c, &et);
    if (rc == QZ_OK) rc = rd_u64(c, &kv->count);
    if (rc) return rc;
    if (et >= QZ_GGUF_VTYPE_COUNT || et == QZ_GGUF_ARRAY)
        return qz_fail(c->err, QZ_EINPUT, "%s: %s: array element type %u (allowed: 0..12 but not 9, arrays do not nest)", c->path, c->what,
                       et);
    kv->elem_type = (qz_gguf_vtype)et;
    if (et != QZ_GGUF_STRING) return rd_scalars(c, kv->elem_type, kv->count, kv);
    rc = check_count(c, kv->count, 8, "strings");
    if (rc) return rc;
    kv->strs = qz_malloc_array(kv->count ? (size_t)kv->count : 1, sizeof *kv->strs);
    if (!kv->strs) return qz_fail(c->err, QZ_EINTERNAL, "%s: out of memory for %llu strings", c->path, (unsigned long long)kv->count);
    for (uint64_t i = 0; i < kv->count && rc == QZ_OK; i++) rc = rd_str(c, &kv->strs[i]);
    return rc;
}

static int rd_kv(cursor *c, int64_t i, qz_gguf_kv *kv)
{
    snprintf(c->what, sizeof c->what, "key/value #%lld", (long long)i);
    int rc = rd_str(c, &kv->key);
    uint32_t t = 0;
    if (rc == QZ_OK) {
        snprintf(c->what, sizeof c->what, "key '%.*s'", (int)(kv->key.len > 100 ? 100 : kv->key.len), kv->key.s);
        rc = rd_u32(c, &t);
    }
    if (rc) return rc;
    if (t >= QZ_GGUF_VTYPE_COUNT) return qz_fail(c->err, QZ_EINPUT, "%s: %s: value type %u (allowed: 0..12)", c->path, c->what, t);
    kv->type = (qz_gguf_vtype)t;
    kv->count = 1;
    if (t == QZ_GGUF_ARRAY) return rd_array(c, kv);
    if (t == QZ_GGUF_STRING) return rd_str(c, &kv->str);
    return rd_scalars(c, kv->type, 1, kv);
}

static int cmp_str(qz_gguf_str a, qz_gguf_str b)
{
    int r = memcmp(a.s, b.s, a.len < b.len ? a.len : b.len);
    return r ? r : (a.len > b.len) - (a.len < b.len);
}

static int cmp_kv_ptr(const void *a, const void *b)
{
    return cmp_str((*(const qz_gguf_kv *const *)a)->key, (*(const qz_gguf_kv *const *)b)->key);
}

static int index_kv(qz_gguf *g, qz_error *err)
{
    g->kv_sorted = qz_malloc_array((size_t)g->n_kv + 1, sizeof *g->kv_sorted);
    if (!g->kv_sorted) return qz_fail(err, QZ_EINTERNAL, "%s: out of memory", g->path);
    for (int64_t i = 0; i < g->n_kv; i++) g->kv_sorted[i] = &g->kv[i];
    qsort(g->kv_sorted, (size_t)g->n_kv, sizeof *g->kv_sorted, cmp_kv_ptr);
    for (int64_t i = 1; i < g->n_kv; i++)
        if (cmp_str(g->kv_sorted[i]->key, g->kv_sorted[i - 1]->key) == 0)
            return qz_fail(err, QZ_EINPUT, "%s: key '%.*s' appears twice", g->path, (int)g->kv_sorted[i]->key.len, g->kv_sorted[i]->key.s);
    return QZ_OK;
}

/* general.alignment: a uint32 power of two when present. */
static int read_alignment(qz_gguf *g, qz_error *err)
{
    g->alignment = QZ_GGUF_DEFAULT_ALIGNMENT;
    const qz_gguf_kv *a = qz_gguf_find_kv(g, "general.alignment");
    if (!a) return QZ_OK;
    if (a->type != QZ_GGUF_UINT32)
        return qz_fail(err, QZ_EINPUT, "%s: general.alignment is %s, must be uint32", g->path, qz_gguf_vtype_name(a->type));
    uint32_t v;
    memcpy(&v, a->data, 4);
    if (v == 0 || (v & (v - 1)))
        return qz_fail(err, QZ_EINPUT, "%s: general.alignment %u is not a power of two (default %d)", g->path, v, QZ_GGUF_DEFAULT_ALIGNMENT);
    g->alignment = v;
    return QZ_OK;
}

/* ---------------------------------------------------------------- tensors */

static int rd_dims(cursor *c, qz_gguf_tensor *t)
{
    uint32_t nd;
    int rc = rd_u32(c, &nd);
    if (rc == QZ_OK && (nd < 1 || nd > QZ_GGUF_MAX_DIMS))
        return qz_fail(c->err, QZ_EINPUT, "%s: %s: n_dims %u (allowed: 1..%d)", c->path, c->what, nd, QZ_GGUF_MAX_DIMS);
    t->n_dims = (int)nd;
    t->numel = 1;
    for (int d = 0; d < QZ_GGUF_MAX_DIMS; d++) t->ne[d] = 1;
    for (int d = 0; d < t->n_dims && rc == QZ_OK; d++) {
        uint64_t ne;
        int64_t numel = 0;
        rc = rd_u64(c, &ne);
        if (rc == QZ_OK && (ne > INT64_MAX || qz_mul_overflow(t->numel, (int64_t)ne, &numel)))
            rc = qz_fail(c->err, QZ_EINPUT, "%s: %s: ne[%d] = %llu makes the element count overflow (limit 2^63-1)", c->path, c->what, d,
                         (unsigned long long)ne);
        if (rc == QZ_OK) t->ne[d] = (int64_t)ne, t->numel = numel;
    }
    return rc;
}

/* The tensor's type, block multiple and byte count. */
static int rd_type(cursor *c, qz_gguf_tensor *t)
{
    uint32_t type;
    int rc = rd_u32(c, &type);
    if (rc) return rc;
    const qz_ggml_traits *tr = qz_ggml_type_traits((int)type);
    if (!tr)
        return qz_fail(c->err, QZ_EINPUT, "%s: %s: ggml type %u is not supported (supported: %s)", c->path, c->what, type,
                       qz_ggml_supported_names());
    t->type = (int)type;
    if (t->ne[0] % tr->block_size)
        return qz_fail(c->err, QZ_EINPUT, "%s: %s: ne[0] = %lld is not a multiple of %s's block size %lld", c->path, c->what,
                       (long long)t->ne[0], tr->name, (long long)tr->block_size);
    uint64_t blocks = (uint64_t)(t->numel / tr->block_size);
    if (blocks > SIZE_MAX / tr->type_size)
        return qz_fail(c->err, QZ_EINPUT, "%s: %s: %llu blocks of %s overflow the byte count", c->path, c->what, (unsigned long long)blocks,
                       tr->name);
    t->nbytes = (size_t)blocks * tr->type_size;
    return QZ_OK;
}

static int rd_tensor(cursor *c, int64_t i, size_t alignment, qz_gguf_tensor *t)
{
    qz_gguf_str name;
    snprintf(c->what, sizeof c->what, "tensor #%lld", (long long)i);
    int rc = rd_str(c, &name);
    if (rc) return rc;
    if (name.len == 0 || name.len >= QZ_GGUF_MAX_NAME)
        return qz_fail(c->err, QZ_EINPUT, "%s: tensor #%lld: name of %zu bytes (allowed: 1..%d)", c->path, (long long)i, name.len,
                       QZ_GGUF_MAX_NAME - 1);
    if (memchr(name.s, 0, name.len)) return qz_fail(c->err, QZ_EINPUT, "%s: tensor #%lld: name holds a NUL byte", c->path, (long long)i);
    memcpy(t->name, name.s, name.len);
    t->name[name.len] = 0;
    snprintf(c->what, sizeof c->what, "tensor '%s'", t->name);
    rc = rd_dims(c, t);
    if (rc == QZ_OK) rc = rd_type(c, t);
    if (rc == QZ_OK) rc = rd_u64(c, &t->offset);
    if (rc == QZ_OK && t->offset % alignment)
        rc = qz_fail(c->err, QZ_EINPUT, "%s: %s: offset %llu is not a multiple of the alignment %zu", c->path, c->what,
                     (unsigned long long)t->offset, alignment);
    return rc;
}

static int cmp_tensor_ptr(const void *a, const void *b)
{
    return strcmp((*(const qz_gguf_tensor *const *)a)->name, (*(const qz_gguf_tensor *const *)b)->name);
}

static int cmp_tensor_offset(const void *a, const void *b)
{
    uint64_t x = (*(const qz_gguf_tensor *const *)a)->offset, y = (*(const qz_gguf_tensor *const *)b)->offset;
    return (x > y) - (x < y);
}

/* Places every tensor in the data region (data_start bytes into the
 * file): inside the file, no two overlapping, names unique. */
static int place_tensors(qz_gguf *g, size_t data_start, qz_error *err)
{
    size_t data_size = data_start <= g->size ? g->size - data_start : 0;
    if (g->n_tensors && data_start > g->size)
        return qz_fail(err, QZ_EINPUT, "%s: the data region would start at byte %zu, past the end of the %zu-byte file (truncated?)", g->path,
                       data_start, g->size);
    const qz_gguf_tensor **s = g->tensors_sorted;
    for (int64_t i = 0; i < g->n_tensors; i++) {
        qz_gguf_tensor *t = &g->tensors[i];
        if (t->offset > data_size || t->nbytes > data_size - t->offset)
            return qz_fail(err, QZ_EINPUT, "%s: tensor '%s': bytes [%llu, +%zu) of the data region lie outside its %zu bytes (truncated?)",
                           g->path, t->name, (unsigned long long)t->offset, t->nbytes, data_size);
        t->data = (const unsigned char *)g->map + data_start + t->offset;
        s[i] = t;
    }
    qsort(s, (size_t)g->n_tensors, sizeof *s, cmp_tensor_offset);
    for (int64_t i = 1; i < g->n_tensors; i++)
        if (s[i]->offset < s[i - 1]->offset + s[i - 1]->nbytes)
            return qz_fail(err, QZ_EINPUT, "%s: tensors '%s' and '%s' overlap in the data region (offsets %llu and %llu)", g->path,
                           s[i - 1]->name, s[i]->name, (unsigned long long)s[i - 1]->offset, (unsigned long long)s[i]->offset);
    qsort(s, (size_t)g->n_tensors, sizeof *s, cmp_tensor_ptr);
    for (int64_t i = 1; i < g->n_tensors; i++)
        if (strcmp(s[i]->name, s[i - 1]->name) == 0) return qz_fail(err, QZ_EINPUT, "%s: tensor '%s' appears twice", g->path, s[i]->name);
    return QZ_OK;
}

/* ------------------------------------------------------------------- open */

static int rd_header(qz_gguf *g, cursor *c)
{
    snprintf(c->what, sizeof c->what, "header");
    uint32_t magic;
    uint64_t nt, nkv;
    int rc = rd_u32(c, &magic);
    if (rc == QZ_OK && memcmp(&magic, "GGUF", 4) != 0)
        return qz_fail(c->err, QZ_EINPUT, "%s: not a GGUF file (magic %02x %02x %02x %02x, expected \"GGUF\")", c->path, c->p[0], c->p[1],
                       c->p[2], c->p[3]);
    if (rc == QZ_OK) rc = rd_u32(c, &g->version);
    if (rc == QZ_OK && (g->version < 2 || g->version > 3))
        return qz_fail(c->err, QZ_EINPUT, "%s: GGUF version %u is not supported (supported: 2, 3)", c->path, g->version);
    if (rc == QZ_OK) rc = rd_u64(c, &nt);
    if (rc == QZ_OK) rc = rd_u64(c, &nkv);
    snprintf(c->what, sizeof c->what, "n_kv");
    if (rc == QZ_OK) rc = check_count(c, nkv, 8 + 4 + 1, "key/value pairs"); /* empty key, type, one byte */
    snprintf(c->what, sizeof c->what, "n_tensors");
    if (rc == QZ_OK) rc = check_count(c, nt, 8 + 1 + 4 + 8 + 4 + 8, "tensor infos"); /* one-byte name, 1 dim */
    if (rc) return rc;
    g->n_kv = (int64_t)nkv;
    g->n_tensors = (int64_t)nt;
    g->kv = qz_calloc_array((size_t)nkv + 1, sizeof *g->kv);
    g->tensors = qz_calloc_array((size_t)nt + 1, sizeof *g->tensors);
    g->tensors_sorted = qz_malloc_array((size_t)nt + 1, sizeof *g->tensors_sorted);
    if (!g->kv || !g->tensors || !g->tensors_sorted) return qz_fail(c->err, QZ_EINTERNAL, "%s: out of memory", c->path);
    return QZ_OK;
}

static int parse(qz_gguf *g, qz_error *err)
{
    cursor c = {.p = g->map, .pos = 0, .size = g->size, .path = g->path, .err = err};
    int rc = rd_header(g, &c);
    for (int64_t i = 0; i < g->n_kv && rc == QZ_OK; i++) rc = rd_kv(&c, i, &g->kv[i]);
    if (rc == QZ_OK) rc = index_kv(g, err);
    if (rc == QZ_OK) rc = read_alignment(g, err);
    for (int64_t i = 0; i < g->n_tensors && rc == QZ_OK; i++) rc = rd_tensor(&c, i, g->alignment, &g->tensors[i]);
    if (rc) return rc;
    size_t data_start = c.pos + (g->alignment - c.pos % g->alignment) % g->alignment;
    return place_tensors(g, data_start, err);
}


int qz_gguf_open(qz_gguf **out, const char *path, qz_error *err)
{
    *out = NULL;
    qz_gguf *g = calloc(1, sizeof *g);
    if (!g || !(g->path = strdup(path))) {
        free(g);
        return qz_fail(err, QZ_EINTERNAL, "%s: out of memory", path);
    }
    int rc = qz_map_readonly(g->path, 24, "a GGUF header", &g->map, &g->size, err);
    if (rc == QZ_OK) rc = parse(g, err);
    if (rc) {
        qz_gguf_close(g);
        return rc;
    }
    *out = g;
    return QZ_OK;
}

void qz_gguf_close(qz_gguf *g)
{
    if (!g) return;
    for (int64_t i = 0; g->kv && i < g->n_kv; i++) free(g->kv[i].strs);
    free(g->kv);
    free(g->kv_sorted);
    free(g->tensors);
    free(g->tensors_sorted);
    if (g->map) munmap(g->map, g->size);
    free(g->path);
    free(g);
}

const char *qz_gguf_path(const qz_gguf *g) { return g->path; }
uint32_t qz_gguf_version(const qz_gguf *g) { return g->version; }
size_t qz_gguf_alignment(const qz_gguf *g) { return g->alignment; }
size_t qz_gguf_file_size(const qz_gguf *g) { return g->size; }

/* ---------------------------------------------------------------- lookups */

int64_t qz_gguf_n_kv(const qz_gguf *g) { return g->n_kv; }

const qz_gguf_kv *qz_gguf_kv_at(const qz_gguf *g, int64_t i)
{
    return i >= 0 && i < g->n_kv ? &g->kv[i] : NULL;
}

const qz_gguf_kv *qz_gguf_find_kv(const qz_gguf *g, const char *key)
{
    qz_gguf_kv probe = {.key = {key, strlen(key)}};
    const qz_gguf_kv *pp = &probe, **hit = bsearch(&pp, g->kv_sorted, (size_t)g->n_kv, sizeof *g->kv_sorted, cmp_kv_ptr);
    return hit ? *hit : NULL;
}

int64_t qz_gguf_kv_int(const qz_gguf_kv *kv, uint64_t i)
{
    qz_gguf_vtype t = kv->type == QZ_GGUF_ARRAY ? kv->elem_type : kv->type;
    QZ_ASSERT(is_int_type(t) && i < kv->count);
    const unsigned char *p = kv->data + i * vtype_sizes[t];
    switch (t) {
    case QZ_GGUF_UINT8: return *p;
    case QZ_GGUF_INT8: return (int8_t)*p;
    case QZ_GGUF_UINT16: { uint16_t v; memcpy(&v, p, 2); return v; }
    case QZ_GGUF_INT16: { int16_t v; memcpy(&v, p, 2); return v; }
    case QZ_GGUF_UINT32: { uint32_t v; memcpy(&v, p, 4); return v; }
    case QZ_GGUF_INT32: { int32_t v; memcpy(&v, p, 4); return v; }
    default: { int64_t v; memcpy(&v, p, 8); return v; } /* INT64; UINT64 wraps (documented) */
    }
}

double qz_gguf_kv_float(const qz_gguf_kv *kv, uint64_t i)
{
    qz_gguf_vtype t = kv->type == QZ_GGUF_ARRAY ? kv->elem_type : kv->type;
    QZ_ASSERT((t == QZ_GGUF_FLOAT32 || t == QZ_GGUF_FLOAT64) && i < kv->count);
    if (t == QZ_GGUF_FLOAT32) {
        float v;
        memcpy(&v, kv->data + 4 * i, 4);
        return v;
    }
    double v;
    memcpy(&v, kv->data + 8 * i, 8);
    return v;
}

qz_gguf_str qz_gguf_kv_str(const qz_gguf_kv *kv, uint64_t i)
{
    QZ_ASSERT(i < kv->count && (kv->type == QZ_GGUF_STRING || kv->elem_type == QZ_GGUF_STRING));
    return kv->type == QZ_GGUF_STRING ? kv->str : kv->strs[i];
}

/* The kv for key when its type passes ok(); *kv NULL when absent. */
static int lookup(const qz_gguf *g, const char *key, int required, int (*ok)(qz_gguf_vtype), const char *want, const qz_gguf_kv **kv,
                  qz_error *err)
{
    *kv = qz_gguf_find_kv(g, key);
    if (!*kv) return required ? qz_fail(err, QZ_EINPUT, "%s: required key '%s' is missing", g->path, key) : QZ_OK;
    if (!ok((*kv)->type)) {
        int rc = qz_fail(err, QZ_EINPUT, "%s: key '%s' is %s, expected %s", g->path, key, qz_gguf_vtype_name((*kv)->type), want);
        *kv = NULL;
        return rc;
    }
    return QZ_OK;
}

static int is_float_type(qz_gguf_vtype t) { return t == QZ_GGUF_FLOAT32 || t == QZ_GGUF_FLOAT64; }
static int is_bool_type(qz_gguf_vtype t) { return t == QZ_GGUF_BOOL; }
static int is_string_type(qz_gguf_vtype t) { return t == QZ_GGUF_STRING; }
static int is_array_type(qz_gguf_vtype t) { return t == QZ_GGUF_ARRAY; }

int qz_gguf_get_int(const qz_gguf *g, const char *key, int required, int64_t *v, qz_error *err)
{
    const qz_gguf_kv *kv;
    int rc = lookup(g, key, required, is_int_type, "an integer", &kv, err);
    if (rc || !kv) return rc;
    if (kv->type == QZ_GGUF_UINT64 && qz_gguf_kv_int(kv, 0) < 0)
        return qz_fail(err, QZ_EINPUT, "%s: key '%s' = %llu exceeds 2^63-1", g->path, key, (unsigned long long)qz_gguf_kv_int(kv, 0));
    *v = qz_gguf_kv_int(kv, 0);
    return QZ_OK;
}

int qz_gguf_get_float(const qz_gguf *g, const char *key, int required, double *v, qz_error *err)
{
    const qz_gguf_kv *kv;
    int rc = lookup(g, key, required, is_float_type, "float32 or float64", &kv, err);
    if (rc == QZ_OK && kv) *v = qz_gguf_kv_float(kv, 0);
    return rc;
}

int qz_gguf_get_bool(const qz_gguf *g, const char *key, int required, int *v, qz_error *err)
{
    const qz_gguf_kv *kv;
    int rc = lookup(g, key, required, is_bool_type, "bool", &kv, err);
    if (rc == QZ_OK && kv) *v = kv->data[0];
    return rc;
}

int qz_gguf_get_string(const qz_gguf *g, const char *key, int required, qz_gguf_str *v, qz_error *err)
{
    const qz_gguf_kv *kv;
    int rc = lookup(g, key, required, is_string_type, "string", &kv, err);
    if (rc == QZ_OK && kv) *v = kv->str;
    return rc;
}

int qz_gguf_get_array(const qz_gguf *g, const char *key, qz_gguf_vtype elem, int required, const qz_gguf_kv **kv, qz_error *err)
{
    int rc = lookup(g, key, required, is_array_type, "array", kv, err);
    if (rc == QZ_OK && *kv && elem != QZ_GGUF_VTYPE_COUNT && (*kv)->elem_type != elem) {
        rc = qz_fail(err, QZ_EINPUT, "%s: key '%s' is an array of %s, expected %s", g->path, key, qz_gguf_vtype_name((*kv)->elem_type),
                     qz_gguf_vtype_name(elem));
        *kv = NULL;
    }
    return rc;
}

/* ------------------------------------------------------------- JSON view */

/* Element i of kv (scalar: i = 0) as a cJSON value. */
static cJSON *value_json(const qz_gguf_kv *kv, uint64_t i, char **buf, size_t *cap)
{
    qz_gguf_vtype t = kv->type == QZ_GGUF_ARRAY ? kv->elem_type : kv->type;
    if (t == QZ_GGUF_BOOL) return cJSON_CreateBool(kv->data[i]);
    if (is_float_type(t)) return cJSON_CreateNumber(qz_gguf_kv_float(kv, i));
    if (t == QZ_GGUF_UINT64) return cJSON_CreateNumber((double)(uint64_t)qz_gguf_kv_int(kv, i));
    if (is_int_type(t)) return cJSON_CreateNumber((double)qz_gguf_kv_int(kv, i));
    qz_gguf_str s = qz_gguf_kv_str(kv, i);
    if (s.len + 1 > *cap) { /* cJSON wants NUL-terminated text */
        char *grown = realloc(*buf, s.len + 1);
        if (!grown) return NULL;
        *buf = grown;
        *cap = s.len + 1;
    }
    memcpy(*buf, s.s, s.len);
    (*buf)[s.len] = 0;
    return cJSON_CreateString(*buf);
}

static cJSON *kv_json(const qz_gguf_kv *kv, char **buf, size_t *cap)
{
    if (kv->type != QZ_GGUF_ARRAY) return value_json(kv, 0, buf, cap);
    cJSON *a = cJSON_CreateArray();
    for (uint64_t i = 0; a && i < kv->count; i++) {
        cJSON *v = value_json(kv, i, buf, cap);
        if (!v || !cJSON_AddItemToArray(a, v)) {
            cJSON_Delete(v);
            cJSON_Delete(a);
            return NULL;
        }
    }
    return a;
}

int qz_gguf_metadata_json(const qz_gguf *g, cJSON **out, qz_error *err)
{
    cJSON *o = cJSON_CreateObject();
    char *buf = NULL, *key = NULL;
    size_t cap = 0, kcap = 0;
    int ok = o != NULL;
    for (int64_t i = 0; i < g->n_kv && ok; i++) {
        const qz_gguf_kv *kv = &g->kv[i];
        cJSON *v = kv_json(kv, &buf, &cap);
        qz_gguf_kv keyv = {.type = QZ_GGUF_STRING, .count = 1, .str = kv->key};
        cJSON *k = v ? value_json(&keyv, 0, &key, &kcap) : NULL; /* the key, NUL-terminated */
        ok = v && k && cJSON_AddItemToObject(o, k->valuestring, v);
        if (!ok) cJSON_Delete(v);
        cJSON_Delete(k);
    }
    free(buf);
    free(key);
    if (!ok) {
        cJSON_Delete(o);
        *out = NULL;
        return qz_fail(err, QZ_EINTERNAL, "%s: out of memory building the metadata JSON", g->path);
    }
    *out = o;
    return QZ_OK;
}

/* ---------------------------------------------------------------- tensors */

int64_t qz_gguf_n_tensors(const qz_gguf *g) { return g->n_tensors; }

const qz_gguf_tensor *qz_gguf_tensor_at(const qz_gguf *g, int64_t i)
{
    return i >= 0 && i < g->n_tensors ? &g->tensors[i] : NULL;
}

const qz_gguf_tensor *qz_gguf_find_tensor(const qz_gguf *g, const char *name)
{
    qz_gguf_tensor probe;
    size_t n = strlen(name);
    if (n >= sizeof probe.name) return NULL;
    memcpy(probe.name, name, n + 1);
    const qz_gguf_tensor *pp = &probe, **hit = bsearch(&pp, g->tensors_sorted, (size_t)g->n_tensors, sizeof *g->tensors_sorted, cmp_tensor_ptr);
    return hit ? *hit : NULL;
}

int qz_gguf_tensor_to_f32(const qz_gguf *g, const qz_gguf_tensor *t, float *dst, qz_error *err)
{
    const qz_ggml_traits *tr = qz_ggml_type_traits(t->type);
    if (!tr || !tr->to_float)
        return qz_fail(err, QZ_EINPUT, "%s: tensor '%s': no dequantizer for ggml type %d", g->path, t->name, t->type);
    tr->to_float(t->data, dst, t->numel);
    return QZ_OK;
}
