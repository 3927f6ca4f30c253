/* topk_cache.c - reads and writes qz top-k caches (FORMAT.md "Top-k
 * caches"; layout restated in topk_cache.h): a checked little-endian header,
 * then one zlib stream of fixed-size records. Bytes only; no statistics. */
#include "topk_cache.h"

#include "safetensors.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

static const char MAGIC[8] = {'Q', 'Z', 'T', 'O', 'P', 'K', 'C', '\n'};
#define FIXED_BYTES 64            /* header bytes before the base name */
#define IO_BYTES ((size_t)1 << 16) /* zlib input/output buffer */
#define MAX_RECORDS ((int64_t)1 << 40)
#define ZLIB_MAX_RATIO 1032       /* deflate's largest expansion on inflate */

/* ---------------------------------------------------------------- bytes */

static void put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static void put64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static uint32_t get32(const unsigned char *p)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) v |= (uint32_t)p[i] << (8 * i);
    return v;
}
static uint64_t get64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}
static void putf64(unsigned char *p, double d)
{
    uint64_t v;
    memcpy(&v, &d, 8);
    put64(p, v);
}
static double getf64(const unsigned char *p)
{
    uint64_t v = get64(p);
    double d;
    memcpy(&d, &v, 8);
    return d;
}
static void putf32(unsigned char *p, float f)
{
    uint32_t v;
    memcpy(&v, &f, 4);
    put32(p, v);
}
static float getf32(const unsigned char *p)
{
    uint32_t v = get32(p);
    float f;
    memcpy(&f, &v, 4);
    return f;
}

uint32_t qz_topk_tokens_crc(const int32_t *ids, int64_t n)
{
    unsigned char buf[4096];
    uint32_t crc = 0;
    for (int64_t i = 0; i < n;) {
        size_t m = 0;
        for (; m < sizeof buf && i < n; m += 4, i++) put32(buf + m, (uint32_t)ids[i]);
        crc = qz_crc32(crc, buf, m);
    }
    return crc;
}

static size_t record_bytes(int k) { return 16 + 8 * (size_t)k; }

static int64_t n_records(const qz_topk_header *h) { return h->windows * (h->seqlen - 1); }

/* --------------------------------------------------------------- header */

/* Encodes h into buf (FIXED_BYTES + name + 4 bytes); returns the size. */
static size_t encode_header(unsigned char *buf, const qz_topk_header *h, uint32_t payload_crc)
{
    size_t len = strlen(h->base);
    memcpy(buf, MAGIC, 8);
    put32(buf + 8, QZ_TOPK_VERSION);
    put32(buf + 12, (uint32_t)h->k);
    put32(buf + 16, (uint32_t)h->vocab);
    put32(buf + 20, h->tokens_crc);
    put64(buf + 24, (uint64_t)h->n_tokens);
    put64(buf + 32, (uint64_t)h->seqlen);
    put64(buf + 40, (uint64_t)h->windows);
    put64(buf + 48, (uint64_t)n_records(h) * record_bytes(h->k));
    put32(buf + 56, payload_crc);
    put32(buf + 60, (uint32_t)len);
    memcpy(buf + FIXED_BYTES, h->base, len);
    put32(buf + FIXED_BYTES + len, qz_crc32(0, buf, FIXED_BYTES + len));
    return FIXED_BYTES + len + 4;
}

/* The fixed fields: ranges and the payload size they imply. */
static int check_fields(const char *path, const qz_topk_header *h, uint32_t version, uint64_t payload_bytes, qz_error *err)
{
    if (version != QZ_TOPK_VERSION)
        return qz_fail(err, QZ_EINPUT, "%s: top-k cache version %u, this qz reads version %d", path, version, QZ_TOPK_VERSION);
    if (h->vocab < 1 || h->vocab > QZ_TOPK_MAX_VOCAB || h->k < 1 || h->k > h->vocab || h->k > QZ_TOPK_MAX_K)
        return qz_fail(err, QZ_EINPUT, "%s: top-k cache k %d with vocab %lld: need 1 <= k <= vocab, k <= %d, vocab <= %d (the limits)",
                       path, h->k, (long long)h->vocab, QZ_TOPK_MAX_K, QZ_TOPK_MAX_VOCAB);
    if (h->seqlen < 2 || h->windows < 1 || h->seqlen > MAX_RECORDS || h->windows > MAX_RECORDS / h->seqlen ||
        h->n_tokens < h->seqlen * h->windows)
        return qz_fail(err, QZ_EINPUT, "%s: top-k cache seqlen %lld, windows %lld, tokens %lld: out of range", path,
                       (long long)h->seqlen, (long long)h->windows, (long long)h->n_tokens);
    if (payload_bytes != (uint64_t)n_records(h) * record_bytes(h->k))
        return qz_fail(err, QZ_EINPUT, "%s: top-k cache payload_bytes %llu, expected %lld records of %zu bytes", path,
                       (unsigned long long)payload_bytes, (long long)n_records(h), record_bytes(h->k));
    return QZ_OK;
}

/* The payload must be able to inflate from the bytes the file holds: deflate
 * expands at most ~1032:1, so a larger payload_bytes is a crafted header
 * (refused before any record buffer is allocated for it). */
static int check_file_size(FILE *f, const char *path, size_t header_bytes, uint64_t payload_bytes, qz_error *err)
{
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) return qz_fail(err, QZ_EINPUT, "%s: not a regular file", path);
    uint64_t have = (uint64_t)st.st_size > header_bytes ? (uint64_t)st.st_size - header_bytes : 0;
    if (payload_bytes / ZLIB_MAX_RATIO > have)
        return qz_fail(err, QZ_EINPUT, "%s: top-k cache payload_bytes %llu cannot inflate from the %llu compressed bytes in the file",
                       path, (unsigned long long)payload_bytes, (unsigned long long)have);
    return QZ_OK;
}

/* Reads the header from f; *payload_crc gets the stored payload CRC. */
static int read_header(FILE *f, const char *path, qz_topk_header *h, uint32_t *payload_crc, qz_error *err)
{
    unsigned char buf[FIXED_BYTES + QZ_TOPK_MAX_NAME + 4];
    memset(h, 0, sizeof *h);
    if (fread(buf, 1, FIXED_BYTES, f) != FIXED_BYTES || memcmp(buf, MAGIC, 8) != 0)
        return qz_fail(err, QZ_EINPUT, "%s: not a qz top-k cache (bad magic or too short) ---> HINT: qz-eval CAND --base BASE "
                       "--top-k-cache FILE writes one", path);
    uint32_t len = get32(buf + 60);
    if (len > QZ_TOPK_MAX_NAME) return qz_fail(err, QZ_EINPUT, "%s: top-k cache base_len %u exceeds %d", path, len, QZ_TOPK_MAX_NAME);
    if (fread(buf + FIXED_BYTES, 1, len + 4, f) != len + 4) return qz_fail(err, QZ_EINPUT, "%s: top-k cache header truncated", path);
    if (get32(buf + FIXED_BYTES + len) != qz_crc32(0, buf, FIXED_BYTES + len))
        return qz_fail(err, QZ_EINPUT, "%s: top-k cache header CRC mismatch (corrupt file)", path);
    h->k = (int)get32(buf + 12);
    h->vocab = get32(buf + 16);
    h->tokens_crc = get32(buf + 20);
    h->n_tokens = (int64_t)get64(buf + 24);
    h->seqlen = (int64_t)get64(buf + 32);
    h->windows = (int64_t)get64(buf + 40);
    *payload_crc = get32(buf + 56);
    memcpy(h->base, buf + FIXED_BYTES, len);
    h->base[len] = 0;
    if (get32(buf + 12) > INT32_MAX || get64(buf + 24) > INT64_MAX || get64(buf + 32) > INT64_MAX || get64(buf + 40) > INT64_MAX)
        return qz_fail(err, QZ_EINPUT, "%s: top-k cache header fields out of range", path);
    int rc = check_fields(path, h, get32(buf + 8), get64(buf + 48), err);
    return rc ? rc : check_file_size(f, path, FIXED_BYTES + len + 4, get64(buf + 48), err);
}

int qz_topk_read_header(const char *path, qz_topk_header *h, qz_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) return qz_fail(err, QZ_EINPUT, "%s: cannot open: %s", path, strerror(errno));
    uint32_t crc;
    int rc = read_header(f, path, h, &crc, err);
    fclose(f);
    return rc;
}

/* --------------------------------------------------------------- writer */

struct qz_topk_writer {
    FILE *f;
    char path[4096], tmp[4112];
    qz_topk_header h;
    z_stream z;
    int z_live, committed;
    uint32_t crc;
    int64_t done;            /* records written */
    unsigned char *rec;      /* one record */
    unsigned char *out;      /* (IO_BYTES) deflate output */
};

/* Runs deflate on what is in w->z and writes its output. */
static int deflate_pump(qz_topk_writer *w, int flush, qz_error *err)
{
    int ret;
    do {
        w->z.next_out = w->out;
        w->z.avail_out = (uInt)IO_BYTES;
        ret = deflate(&w->z, flush);
        QZ_ASSERT(ret != Z_STREAM_ERROR);
        size_t have = IO_BYTES - w->z.avail_out;
        if (have && fwrite(w->out, 1, have, w->f) != have)
            return qz_fail(err, QZ_EINTERNAL, "%s: write failed: %s", w->tmp, strerror(errno));
    } while (w->z.avail_out == 0 || (flush == Z_FINISH && ret != Z_STREAM_END));
    return QZ_OK;
}

int qz_topk_writer_open(qz_topk_writer **out, const char *path, const qz_topk_header *h, qz_error *err)
{
    *out = NULL;
    if (strlen(h->base) > QZ_TOPK_MAX_NAME || strlen(path) >= 4096)
        return qz_fail(err, QZ_EINPUT, "%s: path or base name too long for a top-k cache", path);
    int rc = check_fields(path, h, QZ_TOPK_VERSION, (uint64_t)n_records(h) * record_bytes(h->k), err);
    if (rc) return rc;
    if (access(path, F_OK) == 0) return qz_fail(err, QZ_EINPUT, "%s: exists; a top-k cache is never overwritten (remove it first)", path);
    qz_topk_writer *w = calloc(1, sizeof *w);
    if (!w) return qz_fail(err, QZ_EINTERNAL, "out of memory");
    *out = w;
    w->h = *h;
    snprintf(w->path, sizeof w->path, "%s", path);
    snprintf(w->tmp, sizeof w->tmp, "%s.tmp", path);
    w->rec = malloc(record_bytes(h->k));
    w->out = malloc(IO_BYTES);
    if (!w->rec || !w->out) return qz_fail(err, QZ_EINTERNAL, "out of memory for a top-k cache record of k %d", h->k);
    if (!(w->f = fopen(w->tmp, "wb"))) return qz_fail(err, QZ_EINPUT, "%s: cannot create: %s", w->tmp, strerror(errno));
    if (deflateInit(&w->z, Z_DEFAULT_COMPRESSION) != Z_OK) return qz_fail(err, QZ_EINTERNAL, "zlib deflateInit failed");
    w->z_live = 1;
    unsigned char hdr[FIXED_BYTES + QZ_TOPK_MAX_NAME + 4];
    size_t n = encode_header(hdr, h, 0); /* rewritten with the payload CRC by _commit */
    if (fwrite(hdr, 1, n, w->f) != n) return qz_fail(err, QZ_EINTERNAL, "%s: write failed: %s", w->tmp, strerror(errno));
    return QZ_OK;
}

static void encode_record(unsigned char *p, const qz_topk_block *b, int64_t i)
{
    int k = b->k;
    putf64(p, b->logp_next[i]);
    putf64(p + 8, b->p_rest[i]);
    for (int j = 0; j < k; j++) put32(p + 16 + 4 * j, (uint32_t)b->ids[i * k + j]);
    for (int j = 0; j < k; j++) putf32(p + 16 + 4 * (size_t)k + 4 * j, b->logp[i * k + j]);
}

int qz_topk_writer_write(qz_topk_writer *w, const qz_topk_block *b, qz_error *err)
{
    QZ_ASSERT(b->k == w->h.k && w->done + b->n <= n_records(&w->h) && !w->committed);
    size_t rb = record_bytes(b->k);
    int rc = QZ_OK;
    for (int64_t i = 0; i < b->n && rc == QZ_OK; i++) {
        encode_record(w->rec, b, i);
        w->crc = qz_crc32(w->crc, w->rec, rb);
        w->z.next_in = w->rec;
        w->z.avail_in = (uInt)rb;
        rc = deflate_pump(w, Z_NO_FLUSH, err);
    }
    w->done += b->n;
    return rc;
}

int qz_topk_writer_commit(qz_topk_writer *w, qz_error *err)
{
    QZ_ASSERT(w->done == n_records(&w->h) && !w->committed);
    unsigned char hdr[FIXED_BYTES + QZ_TOPK_MAX_NAME + 4];
    size_t n = encode_header(hdr, &w->h, w->crc);
    int rc = deflate_pump(w, Z_FINISH, err);
    if (rc == QZ_OK && (fseek(w->f, 0, SEEK_SET) != 0 || fwrite(hdr, 1, n, w->f) != n || fflush(w->f) != 0))
        rc = qz_fail(err, QZ_EINTERNAL, "%s: write failed: %s", w->tmp, strerror(errno));
    int closed = fclose(w->f);
    w->f = NULL;
    if (rc == QZ_OK && closed != 0) rc = qz_fail(err, QZ_EINTERNAL, "%s: write failed: %s", w->tmp, strerror(errno));
    if (rc == QZ_OK && rename(w->tmp, w->path) != 0)
        rc = qz_fail(err, QZ_EINTERNAL, "%s: cannot rename to %s: %s", w->tmp, w->path, strerror(errno));
    w->committed = rc == QZ_OK;
    return rc;
}

void qz_topk_writer_free(qz_topk_writer *w)
{
    if (!w) return;
    if (w->z_live) deflateEnd(&w->z);
    if (w->f) fclose(w->f);
    if (!w->committed && w->tmp[0]) remove(w->tmp);
    free(w->rec);
    free(w->out);
    free(w);
}

/* --------------------------------------------------------------- reader */

struct qz_topk_reader {
    FILE *f;
    char path[4096];
    qz_topk_header h;
    z_stream z;
    int z_live, ended;
    uint32_t crc, want_crc;
    int64_t done;
    unsigned char *rec;
    unsigned char *in;  /* (IO_BYTES) compressed input */
};

int qz_topk_reader_open(qz_topk_reader **out, const char *path, qz_topk_header *h, qz_error *err)
{
    *out = NULL;
    qz_topk_reader *r = calloc(1, sizeof *r);
    if (!r) return qz_fail(err, QZ_EINTERNAL, "out of memory");
    *out = r;
    snprintf(r->path, sizeof r->path, "%s", path);
    if (!(r->f = fopen(path, "rb"))) return qz_fail(err, QZ_EINPUT, "%s: cannot open: %s", path, strerror(errno));
    int rc = read_header(r->f, path, &r->h, &r->want_crc, err);
    if (rc) return rc;
    *h = r->h;
    r->rec = malloc(record_bytes(r->h.k));
    r->in = malloc(IO_BYTES);
    if (!r->rec || !r->in) return qz_fail(err, QZ_EINTERNAL, "out of memory for a top-k cache record of k %d", r->h.k);
    if (inflateInit(&r->z) != Z_OK) return qz_fail(err, QZ_EINTERNAL, "zlib inflateInit failed");
    r->z_live = 1;
    return QZ_OK;
}

/* Inflates exactly n bytes into dst; dst NULL: checks that none remain. */
static int inflate_exact(qz_topk_reader *r, unsigned char *dst, size_t n, qz_error *err)
{
    unsigned char probe;
    r->z.next_out = dst ? dst : &probe;
    r->z.avail_out = dst ? (uInt)n : 1;
    while (r->z.avail_out > 0 && !r->ended) {
        if (r->z.avail_in == 0) {
            r->z.next_in = r->in;
            r->z.avail_in = (uInt)fread(r->in, 1, IO_BYTES, r->f);
            if (r->z.avail_in == 0) return qz_fail(err, QZ_EINPUT, "%s: top-k cache payload truncated", r->path);
        }
        int ret = inflate(&r->z, Z_NO_FLUSH);
        if (ret == Z_STREAM_END) r->ended = 1;
        else if (ret != Z_OK && ret != Z_BUF_ERROR)
            return qz_fail(err, QZ_EINPUT, "%s: top-k cache payload corrupt (zlib: %s)", r->path, r->z.msg ? r->z.msg : "error");
    }
    if (dst && r->z.avail_out > 0)
        return qz_fail(err, QZ_EINPUT, "%s: top-k cache payload ends after %lld of %lld records", r->path, (long long)r->done,
                       (long long)n_records(&r->h));
    if (!dst && r->z.avail_out == 0)
        return qz_fail(err, QZ_EINPUT, "%s: top-k cache payload longer than its %lld records", r->path, (long long)n_records(&r->h));
    return QZ_OK;
}

static int decode_record(const qz_topk_reader *r, const unsigned char *p, qz_topk_block *b, int64_t i, qz_error *err)
{
    int k = b->k;
    b->logp_next[i] = getf64(p);
    b->p_rest[i] = getf64(p + 8);
    int ok = isfinite(b->logp_next[i]) && b->logp_next[i] <= 0 && b->p_rest[i] >= 0 && b->p_rest[i] <= 1;
    for (int j = 0; j < k; j++) {
        int32_t id = (int32_t)get32(p + 16 + 4 * j);
        float lp = getf32(p + 16 + 4 * (size_t)k + 4 * j);
        ok = ok && id >= 0 && id < r->h.vocab && isfinite(lp) && lp <= 0;
        b->ids[i * k + j] = id;
        b->logp[i * k + j] = lp;
    }
    if (!ok)
        return qz_fail(err, QZ_EINPUT, "%s: top-k cache record %lld has a value out of range (id outside [0, %lld) or a "
                       "log-probability not <= 0)", r->path, (long long)(r->done + i), (long long)r->h.vocab);
    return QZ_OK;
}

int qz_topk_reader_read(qz_topk_reader *r, qz_topk_block *b, qz_error *err)
{
    QZ_ASSERT(b->k == r->h.k);
    if (r->done + b->n > n_records(&r->h))
        return qz_fail(err, QZ_EINPUT, "%s: top-k cache holds %lld records, %lld asked for", r->path, (long long)n_records(&r->h),
                       (long long)(r->done + b->n));
    size_t rb = record_bytes(b->k);
    int rc = QZ_OK;
    for (int64_t i = 0; i < b->n && rc == QZ_OK; i++) {
        rc = inflate_exact(r, r->rec, rb, err);
        if (rc == QZ_OK) r->crc = qz_crc32(r->crc, r->rec, rb);
        if (rc == QZ_OK) rc = decode_record(r, r->rec, b, i, err);
    }
    if (rc == QZ_OK) r->done += b->n;
    return rc;
}

int qz_topk_reader_finish(qz_topk_reader *r, qz_error *err)
{
    if (r->done != n_records(&r->h))
        return qz_fail(err, QZ_EINPUT, "%s: %lld of the top-k cache's %lld records were read", r->path, (long long)r->done,
                       (long long)n_records(&r->h));
    int rc = inflate_exact(r, NULL, 0, err);
    if (rc == QZ_OK && (r->z.avail_in > 0 || fgetc(r->f) != EOF))
        rc = qz_fail(err, QZ_EINPUT, "%s: bytes after the top-k cache's zlib stream", r->path);
    if (rc == QZ_OK && r->crc != r->want_crc)
        rc = qz_fail(err, QZ_EINPUT, "%s: top-k cache payload CRC mismatch (corrupt file)", r->path);
    return rc;
}

void qz_topk_reader_free(qz_topk_reader *r)
{
    if (!r) return;
    if (r->z_live) inflateEnd(&r->z);
    if (r->f) fclose(r->f);
    free(r->rec);
    free(r->in);
    free(r);
}
