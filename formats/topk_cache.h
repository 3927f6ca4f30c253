/* topk_cache.h - the base model's top-k log-probabilities per scored token,
 * zlib-compressed, so that later qz-eval runs compare a candidate against
 * the base without running it (FORMAT.md "Top-k caches").
 *
 * Layout (all little-endian):
 *   header  magic "QZTOPKC\n", u32 version 1, u32 k, u32 vocab,
 *           u32 tokens_crc, u64 n_tokens, u64 seqlen, u64 windows,
 *           u64 payload_bytes, u32 payload_crc, u32 base_len,
 *           base_len bytes of the base model's name, u32 header_crc
 *   payload one zlib stream (RFC 1950) to the end of the file, inflating to
 *           windows*(seqlen-1) records in window order, scored position
 *           order: f64 logp_next, f64 p_rest, k x i32 id, k x f32 logp.
 * This module moves bytes only: what the numbers mean and how they are
 * computed is compare.h's business.
 */
#ifndef QZ_TOPK_CACHE_H
#define QZ_TOPK_CACHE_H

#include "qz_common.h"

#define QZ_TOPK_VERSION 1
#define QZ_TOPK_MAX_NAME 4096 /* bytes of the base model's name */
#define QZ_TOPK_MAX_K (1 << 20)      /* entries per token (qz-eval --top-k's range) */
#define QZ_TOPK_MAX_VOCAB (1 << 22)  /* as config.json's vocab_size limit */

typedef struct qz_topk_header {
    int k;                /* entries per token, 1..vocab */
    int64_t vocab;
    int64_t n_tokens;     /* tokens of the whole text, BOS included */
    uint32_t tokens_crc;  /* qz_topk_tokens_crc of those tokens */
    int64_t seqlen;       /* >= 2 */
    int64_t windows;      /* >= 1; records = windows * (seqlen - 1) */
    char base[QZ_TOPK_MAX_NAME + 1]; /* the base model as given to qz-eval */
} qz_topk_header;

/* n records side by side; the caller owns the arrays (capacity >= n). */
typedef struct qz_topk_block {
    int64_t n;
    int k;
    double *logp_next; /* (n) base log-probability of the actual next token */
    double *p_rest;    /* (n) base probability outside the k entries, in [0, 1] */
    int32_t *ids;      /* (n, k) token ids, by descending base probability */
    float *logp;       /* (n, k) their base log-probabilities */
} qz_topk_block;

/* zlib CRC-32 of the ids, each as 4 little-endian bytes. */
uint32_t qz_topk_tokens_crc(const int32_t *ids, int64_t n);

/* Reads and checks path's header only (QZ_EINPUT naming the field). */
int qz_topk_read_header(const char *path, qz_topk_header *h, qz_error *err);

/* Writes path atomically: everything goes to "<path>.tmp", renamed onto
 * path by _commit once all h->windows*(seqlen-1) records were written. An
 * existing path is refused (QZ_EINPUT). _free(NULL) is a no-op; freeing an
 * uncommitted writer removes the temporary file. */
typedef struct qz_topk_writer qz_topk_writer;
int qz_topk_writer_open(qz_topk_writer **out, const char *path, const qz_topk_header *h, qz_error *err);
int qz_topk_writer_write(qz_topk_writer *w, const qz_topk_block *b, qz_error *err);
int qz_topk_writer_commit(qz_topk_writer *w, qz_error *err);
void qz_topk_writer_free(qz_topk_writer *w);

/* Reads records in order: _read fills b->n of them (b->k must equal the
 * header's k); every field is checked (ids in [0, vocab), finite values).
 * _finish checks the stream ends after the last record and that its CRC
 * matches; a short, long or corrupt payload is QZ_EINPUT. */
typedef struct qz_topk_reader qz_topk_reader;
int qz_topk_reader_open(qz_topk_reader **out, const char *path, qz_topk_header *h, qz_error *err);
int qz_topk_reader_read(qz_topk_reader *r, qz_topk_block *b, qz_error *err);
int qz_topk_reader_finish(qz_topk_reader *r, qz_error *err);
void qz_topk_reader_free(qz_topk_reader *r);

#endif
