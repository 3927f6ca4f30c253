/* gguf_write.c - a GGUF v3 writer (see gguf_write.h), following ggml's
 * gguf.cpp layout rules (FORMATS-AND-ALGORITHMS.md §6a): little-endian
 * host assumed, as the reader. Key/values and tensor infos are serialized
 * into memory (they are small); tensor bytes go straight to the file at
 * their offsets with pwrite, so tensors may come in any order and the
 * model is never held whole. Leaves out: big-endian files, GGUF v1/v2. */
#include "gguf_write.h"

#include "gguf_quants.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

typedef struct wtensor {
    char name[QZ_GGUF_MAX_NAME];
    int type, n_dims;
    int64_t ne[QZ_GGUF_MAX_DIMS];
    uint64_t offset;
    size_t nbytes;
    int written;
} wtensor;

typedef struct buf {
    unsigned char *p;
    size_t len, cap;
} buf;

struct qz_gguf_writer {
    char *path, *tmp;
    int fd, force, begun, finished;
    buf kv;                 /* serialized key/values */
    int64_t n_kv;
    char **keys;            /* n_kv, for duplicates */
    wtensor *t;
    int64_t n_t, cap_t;
    uint64_t alignment, data_start, data_size;
};

static int buf_put(buf *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n) cap *= 2;
        unsigned char *q = realloc(b->p, cap);
        if (!q) return -1;
        b->p = q, b->cap = cap;
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
    return 0;
}

static int put_u32(buf *b, uint32_t v) { return buf_put(b, &v, 4); }
static int put_u64(buf *b, uint64_t v) { return buf_put(b, &v, 8); }
static int put_str(buf *b, const char *s, size_t n) { return put_u64(b, n) || buf_put(b, s, n); }

int qz_gguf_writer_open(qz_gguf_writer **out, const char *path, int force, qz_error *err)
{
    *out = NULL;
    if (!force && access(path, F_OK) == 0)
        return qz_fail(err, QZ_EINPUT, "%s exists; pass --force to replace it", path);
    qz_gguf_writer *w = calloc(1, sizeof *w);
    size_t n = strlen(path) + 32;
    if (w) w->fd = -1, w->path = strdup(path), w->tmp = malloc(n);
    if (!w || !w->path || !w->tmp) {
        qz_gguf_writer_free(w);
        return qz_fail(err, QZ_EINTERNAL, "out of memory");
    }
    snprintf(w->tmp, n, "%s.qz-tmp-%ld", path, (long)getpid());
    w->force = force;
    w->alignment = QZ_GGUF_DEFAULT_ALIGNMENT;
    w->fd = open(w->tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (w->fd < 0) {
        int e = errno;
        free(w->tmp), w->tmp = NULL; /* nothing to remove */
        qz_gguf_writer_free(w);
        return qz_fail(err, e == ENOENT || e == EACCES ? QZ_EINPUT : QZ_EINTERNAL, "%s: cannot create: %s", path, strerror(e));
    }
    *out = w;
    return QZ_OK;
}

void qz_gguf_writer_free(qz_gguf_writer *w)
{
    if (!w) return;
    if (w->fd >= 0) close(w->fd);
    if (w->tmp && !w->finished) unlink(w->tmp);
    for (int64_t i = 0; i < w->n_kv; i++) free(w->keys[i]);
    free(w->keys);
    free(w->kv.p);
    free(w->t);
    free(w->path);
    free(w->tmp);
    free(w);
}

/* ------------------------------------------------------------ key/values */

int qz_gguf_writer_has_kv(const qz_gguf_writer *w, const char *key)
{
    for (int64_t i = 0; i < w->n_kv; i++)
        if (!strcmp(w->keys[i], key)) return 1;
    return 0;
}

/* The key and value type; the value follows. */
static int kv_head(qz_gguf_writer *w, const char *key, size_t key_len, qz_gguf_vtype type, qz_error *err)
{
    char *k = strndup(key, key_len);
    if (!k) return qz_fail(err, QZ_EINTERNAL, "out of memory");
    if (w->begun || qz_gguf_writer_has_kv(w, k)) {
        int begun = w->begun;
        free(k);
        return begun ? qz_fail(err, QZ_EINTERNAL, "%s: key '%.*s' added after the header was written", w->path, (int)key_len, key)
                     : qz_fail(err, QZ_EINPUT, "%s: duplicate key '%.*s'", w->path, (int)key_len, key);
    }
    char **keys = realloc(w->keys, (size_t)(w->n_kv + 1) * sizeof *keys);
    if (!keys) {
        free(k);
        return qz_fail(err, QZ_EINTERNAL, "out of memory");
    }
    w->keys = keys;
    w->keys[w->n_kv++] = k;
    return put_str(&w->kv, key, key_len) || put_u32(&w->kv, (uint32_t)type) ? qz_fail(err, QZ_EINTERNAL, "out of memory") : QZ_OK;
}

static int kv_scalar(qz_gguf_writer *w, const char *key, qz_gguf_vtype type, const void *v, size_t n, qz_error *err)
{
    int rc = kv_head(w, key, strlen(key), type, err);
    if (rc == QZ_OK && buf_put(&w->kv, v, n)) rc = qz_fail(err, QZ_EINTERNAL, "out of memory");
    return rc;
}

int qz_gguf_writer_kv_u32(qz_gguf_writer *w, const char *key, uint32_t v, qz_error *err)
{
    return kv_scalar(w, key, QZ_GGUF_UINT32, &v, 4, err);
}

int qz_gguf_writer_kv_i32(qz_gguf_writer *w, const char *key, int32_t v, qz_error *err)
{
    return kv_scalar(w, key, QZ_GGUF_INT32, &v, 4, err);
}

int qz_gguf_writer_kv_f32(qz_gguf_writer *w, const char *key, float v, qz_error *err)
{
    return kv_scalar(w, key, QZ_GGUF_FLOAT32, &v, 4, err);
}

int qz_gguf_writer_kv_bool(qz_gguf_writer *w, const char *key, int v, qz_error *err)
{
    uint8_t b = v != 0;
    return kv_scalar(w, key, QZ_GGUF_BOOL, &b, 1, err);
}

int qz_gguf_writer_kv_str(qz_gguf_writer *w, const char *key, const char *s, size_t len, qz_error *err)
{
    int rc = kv_head(w, key, strlen(key), QZ_GGUF_STRING, err);
    if (rc == QZ_OK && put_str(&w->kv, s, len)) rc = qz_fail(err, QZ_EINTERNAL, "out of memory");
    return rc;
}

static int array_head(qz_gguf_writer *w, const char *key, size_t key_len, qz_gguf_vtype elem, uint64_t n, qz_error *err)
{
    int rc = kv_head(w, key, key_len, QZ_GGUF_ARRAY, err);
    if (rc == QZ_OK && (put_u32(&w->kv, (uint32_t)elem) || put_u64(&w->kv, n))) rc = qz_fail(err, QZ_EINTERNAL, "out of memory");
    return rc;
}

int qz_gguf_writer_kv_strs(qz_gguf_writer *w, const char *key, const char *const *s, const size_t *lens, uint64_t n, qz_error *err)
{
    int rc = array_head(w, key, strlen(key), QZ_GGUF_STRING, n, err);
    for (uint64_t i = 0; i < n && rc == QZ_OK; i++)
        if (put_str(&w->kv, s[i], lens ? lens[i] : strlen(s[i]))) rc = qz_fail(err, QZ_EINTERNAL, "out of memory");
    return rc;
}

static int kv_numbers(qz_gguf_writer *w, const char *key, qz_gguf_vtype elem, const void *v, uint64_t n, qz_error *err)
{
    int rc = array_head(w, key, strlen(key), elem, n, err);
    if (rc == QZ_OK && buf_put(&w->kv, v, (size_t)n * 4)) rc = qz_fail(err, QZ_EINTERNAL, "out of memory");
    return rc;
}

int qz_gguf_writer_kv_i32s(qz_gguf_writer *w, const char *key, const int32_t *v, uint64_t n, qz_error *err)
{
    return kv_numbers(w, key, QZ_GGUF_INT32, v, n, err);
}

int qz_gguf_writer_kv_f32s(qz_gguf_writer *w, const char *key, const float *v, uint64_t n, qz_error *err)
{
    return kv_numbers(w, key, QZ_GGUF_FLOAT32, v, n, err);
}

/* Bytes of one scalar of a numeric or bool type. */
static size_t scalar_size(qz_gguf_vtype t)
{
    static const size_t sz[QZ_GGUF_VTYPE_COUNT] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    return (unsigned)t < QZ_GGUF_VTYPE_COUNT ? sz[t] : 0;
}

int qz_gguf_writer_kv_copy(qz_gguf_writer *w, const qz_gguf_kv *kv, qz_error *err)
{
    int rc;
    if (kv->type == QZ_GGUF_ARRAY) {
        rc = array_head(w, kv->key.s, kv->key.len, kv->elem_type, kv->count, err);
        for (uint64_t i = 0; rc == QZ_OK && kv->elem_type == QZ_GGUF_STRING && i < kv->count; i++)
            if (put_str(&w->kv, kv->strs[i].s, kv->strs[i].len)) rc = qz_fail(err, QZ_EINTERNAL, "out of memory");
        if (rc == QZ_OK && kv->elem_type != QZ_GGUF_STRING && buf_put(&w->kv, kv->data, (size_t)kv->count * scalar_size(kv->elem_type)))
            rc = qz_fail(err, QZ_EINTERNAL, "out of memory");
        return rc;
    }
    rc = kv_head(w, kv->key.s, kv->key.len, kv->type, err);
    if (rc == QZ_OK && (kv->type == QZ_GGUF_STRING ? put_str(&w->kv, kv->str.s, kv->str.len)
                                                   : buf_put(&w->kv, kv->data, scalar_size(kv->type))))
        rc = qz_fail(err, QZ_EINTERNAL, "out of memory");
    return rc;
}

/* ---------------------------------------------------------------- tensors */

static uint64_t pad_to(uint64_t n, uint64_t a)
{
    return (n + a - 1) / a * a;
}

static int check_tensor(const qz_gguf_writer *w, const char *name, const qz_ggml_traits *tr, int type, int n_dims, const int64_t *ne,
                        qz_error *err)
{
    if (w->begun) return qz_fail(err, QZ_EINTERNAL, "%s: tensor '%s' declared after the header was written", w->path, name);
    if (!*name || strlen(name) >= QZ_GGUF_MAX_NAME)
        return qz_fail(err, QZ_EINPUT, "%s: tensor name '%s' must have 1 to %d bytes", w->path, name, QZ_GGUF_MAX_NAME - 1);
    for (int64_t i = 0; i < w->n_t; i++)
        if (!strcmp(w->t[i].name, name)) return qz_fail(err, QZ_EINPUT, "%s: duplicate tensor '%s'", w->path, name);
    if (!tr) return qz_fail(err, QZ_EINPUT, "%s: tensor '%s': unknown ggml type %d", w->path, name, type);
    if (n_dims < 1 || n_dims > QZ_GGUF_MAX_DIMS) return qz_fail(err, QZ_EINPUT, "%s: tensor '%s': %d dims", w->path, name, n_dims);
    for (int d = 0; d < n_dims; d++)
        if (ne[d] <= 0) return qz_fail(err, QZ_EINPUT, "%s: tensor '%s': ne[%d] = %lld", w->path, name, d, (long long)ne[d]);
    if (ne[0] % tr->block_size)
        return qz_fail(err, QZ_EINPUT, "%s: tensor '%s': ne[0] = %lld is not a multiple of %s's block size %lld", w->path, name,
                       (long long)ne[0], tr->name, (long long)tr->block_size);
    return QZ_OK;
}

int qz_gguf_writer_tensor(qz_gguf_writer *w, const char *name, int type, int n_dims, const int64_t *ne, qz_error *err)
{
    const qz_ggml_traits *tr = qz_ggml_type_traits(type);
    int rc = check_tensor(w, name, tr, type, n_dims, ne, err);
    if (rc) return rc;
    if (w->n_t == w->cap_t) {
        int64_t cap = w->cap_t ? 2 * w->cap_t : 64;
        wtensor *t = realloc(w->t, (size_t)cap * sizeof *t);
        if (!t) return qz_fail(err, QZ_EINTERNAL, "out of memory");
        w->t = t, w->cap_t = cap;
    }
    wtensor *t = &w->t[w->n_t++];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->type = type, t->n_dims = n_dims;
    uint64_t rows = 1;
    for (int d = 0; d < n_dims; d++) t->ne[d] = ne[d], rows *= d ? (uint64_t)ne[d] : 1;
    t->nbytes = (size_t)rows * (size_t)(ne[0] / tr->block_size) * tr->type_size;
    t->offset = w->data_size;
    w->data_size += pad_to(t->nbytes, w->alignment);
    return QZ_OK;
}

static int write_all(qz_gguf_writer *w, const void *p, size_t n, uint64_t at, qz_error *err)
{
    for (size_t done = 0; done < n;) {
        ssize_t k = pwrite(w->fd, (const char *)p + done, n - done, (off_t)(at + done));
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return qz_fail(err, QZ_EINTERNAL, "%s: write failed: %s", w->path, k < 0 ? strerror(errno) : "no progress");
        done += (size_t)k;
    }
    return QZ_OK;
}

/* The tensor infos after the key/values. */
static int put_infos(const qz_gguf_writer *w, buf *b)
{
    for (int64_t i = 0; i < w->n_t; i++) {
        const wtensor *t = &w->t[i];
        if (put_str(b, t->name, strlen(t->name)) || put_u32(b, (uint32_t)t->n_dims)) return -1;
        for (int d = 0; d < t->n_dims; d++)
            if (put_u64(b, (uint64_t)t->ne[d])) return -1;
        if (put_u32(b, (uint32_t)t->type) || put_u64(b, t->offset)) return -1;
    }
    return 0;
}

int qz_gguf_writer_begin(qz_gguf_writer *w, qz_error *err)
{
    int rc = qz_gguf_writer_has_kv(w, "general.alignment") ? QZ_OK
                                                           : qz_gguf_writer_kv_u32(w, "general.alignment", (uint32_t)w->alignment, err);
    if (rc) return rc;
    buf h = {0};
    int bad = buf_put(&h, "GGUF", 4) || put_u32(&h, 3) || put_u64(&h, (uint64_t)w->n_t) || put_u64(&h, (uint64_t)w->n_kv) ||
              buf_put(&h, w->kv.p, w->kv.len) || put_infos(w, &h);
    while (!bad && h.len % w->alignment) bad = buf_put(&h, "", 1);
    if (bad) rc = qz_fail(err, QZ_EINTERNAL, "out of memory");
    if (rc == QZ_OK) rc = write_all(w, h.p, h.len, 0, err);
    w->data_start = h.len;
    w->begun = 1;
    free(h.p);
    return rc;
}

int qz_gguf_writer_data(qz_gguf_writer *w, const char *name, const void *data, size_t nbytes, qz_error *err)
{
    if (!w->begun) return qz_fail(err, QZ_EINTERNAL, "%s: tensor data before the header", w->path);
    for (int64_t i = 0; i < w->n_t; i++) {
        wtensor *t = &w->t[i];
        if (strcmp(t->name, name)) continue;
        if (t->written) return qz_fail(err, QZ_EINTERNAL, "%s: tensor '%s' written twice", w->path, name);
        if (nbytes != t->nbytes)
            return qz_fail(err, QZ_EINTERNAL, "%s: tensor '%s': %zu bytes, its shape and type need %zu", w->path, name, nbytes, t->nbytes);
        t->written = 1;
        return write_all(w, data, nbytes, w->data_start + t->offset, err);
    }
    return qz_fail(err, QZ_EINTERNAL, "%s: tensor '%s' was not declared", w->path, name);
}

int qz_gguf_writer_finish(qz_gguf_writer *w, qz_error *err)
{
    for (int64_t i = 0; i < w->n_t; i++)
        if (!w->t[i].written) return qz_fail(err, QZ_EINTERNAL, "%s: tensor '%s' was declared but not written", w->path, w->t[i].name);
    if (ftruncate(w->fd, (off_t)(w->data_start + w->data_size))) /* zero padding after the last tensor */
        return qz_fail(err, QZ_EINTERNAL, "%s: %s", w->path, strerror(errno));
    if (fsync(w->fd) || close(w->fd)) {
        w->fd = -1;
        return qz_fail(err, QZ_EINTERNAL, "%s: cannot sync: %s", w->path, strerror(errno));
    }
    w->fd = -1;
    if (!w->force && access(w->path, F_OK) == 0) return qz_fail(err, QZ_EINPUT, "%s exists; pass --force to replace it", w->path);
    if (rename(w->tmp, w->path)) return qz_fail(err, QZ_EINTERNAL, "%s: cannot rename into place: %s", w->path, strerror(errno));
    w->finished = 1;
    return QZ_OK;
}
