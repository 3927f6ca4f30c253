/* calib.c - calibration text loading and window sampling (see calib.h). */
#include "calib.h"

#include "hf_model.h"
#include "rng.h"

#include <cJSON.h>
#include <string.h>

typedef struct {
    char *buf;
    size_t len, cap;
} strbuf;

static int sb_append(strbuf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = (b->len + n + 1) * 2;
        char *nb = realloc(b->buf, cap);
        if (!nb) return -1;
        b->buf = nb;
        b->cap = cap;
    }
    memcpy(b->buf + b->len, s, n);
    b->len += n;
    b->buf[b->len] = 0;
    return 0;
}

static int sb_join(strbuf *b, const char *s, size_t n)
{
    return (b->len && sb_append(b, "\n\n", 2)) || sb_append(b, s, n) ? -1 : 0;
}

static int is_jsonl(const char *path, const char *text)
{
    size_t n = strlen(path);
    if (n >= 6 && strcmp(path + n - 6, ".jsonl") == 0) return 1;
    while (*text == ' ' || *text == '\t' || *text == '\n' || *text == '\r') text++;
    return *text == '{';
}

/* Appends the "text" field of every JSON Lines record. */
static int add_jsonl(strbuf *b, const char *path, char *text, qz_error *err)
{
    int64_t line = 0;
    for (char *p = text, *nl; *p; p = nl ? nl + 1 : p + strlen(p)) {
        nl = strchr(p, '\n');
        line++;
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        if (strspn(p, " \t\r") >= n) continue;
        cJSON *rec = cJSON_ParseWithLength(p, n);
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(rec, "text");
        int rc = cJSON_IsString(t) ? (sb_join(b, t->valuestring, strlen(t->valuestring)) ? QZ_EINTERNAL : QZ_OK)
                                   : qz_fail(err, QZ_EINPUT, "%s:%lld: not a JSON object with a \"text\" string", path, (long long)line);
        cJSON_Delete(rec);
        if (rc == QZ_EINTERNAL) return qz_fail(err, rc, "out of memory reading %s", path);
        if (rc) return rc;
        if (!nl) break;
    }
    return QZ_OK;
}

int qz_calib_read(const char *const *paths, int n_paths, char **text, size_t *len, qz_error *err)
{
    strbuf b = {0};
    int rc = QZ_OK;
    for (int i = 0; i < n_paths && rc == QZ_OK; i++) {
        char *t = NULL;
        size_t n = 0;
        rc = qz_read_file(paths[i], &t, &n, err);
        if (rc == QZ_OK && n == 0) rc = qz_fail(err, QZ_EINPUT, "%s: calibration file is empty", paths[i]);
        if (rc == QZ_OK && strlen(t) != n) rc = qz_fail(err, QZ_EINPUT, "%s: contains a NUL byte (not text)", paths[i]);
        if (rc == QZ_OK) rc = is_jsonl(paths[i], t) ? add_jsonl(&b, paths[i], t, err)
                                                    : (sb_join(&b, t, n) ? qz_fail(err, QZ_EINTERNAL, "out of memory") : QZ_OK);
        free(t);
    }
    if (rc == QZ_OK && b.len == 0) rc = qz_fail(err, QZ_EINPUT, "calibration text is empty");
    if (rc) {
        free(b.buf);
        return rc;
    }
    *text = b.buf;
    *len = b.len;
    return QZ_OK;
}

int qz_calib_check(int64_t n_tokens, int64_t nsamples, int64_t seqlen, qz_error *err)
{
    if (nsamples < 1 || seqlen < 2) return qz_fail(err, QZ_EINPUT, "need nsamples >= 1 and seqlen >= 2");
    if (n_tokens <= seqlen || n_tokens / seqlen < nsamples) /* then nsamples * seqlen <= n_tokens: no overflow */
        return qz_fail(err, QZ_EINPUT, "calibration text has %lld tokens; %lld samples of %lld tokens need at least %.0f (add text, or lower --nsamples / --seqlen)",
                       (long long)n_tokens, (long long)nsamples, (long long)seqlen, (double)nsamples * (double)seqlen + (nsamples == 1));
    return QZ_OK;
}

int qz_calib_sample(const int32_t *stream, int64_t n_tokens, int64_t nsamples, int64_t seqlen, uint64_t seed,
                    int32_t *windows, qz_error *err)
{
    int rc = qz_calib_check(n_tokens, nsamples, seqlen, err);
    if (rc) return rc;
    qz_rng r;
    qz_rng_seed(&r, seed);
    for (int64_t s = 0; s < nsamples; s++) {
        int64_t off = (int64_t)qz_rng_below(&r, (uint64_t)(n_tokens - seqlen));
        memcpy(windows + s * seqlen, stream + off, (size_t)seqlen * sizeof *windows);
    }
    return QZ_OK;
}
