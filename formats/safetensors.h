/* safetensors.h - read (mmap, lazy, validated) and write (atomic, checksummed)
 * safetensors files.
 *
 * Layout (huggingface/safetensors): u64 little-endian header length N, N bytes
 * of JSON {name: {dtype, shape, data_offsets:[begin,end]}, "__metadata__":
 * {str: str}}, then the data region; offsets are relative to its start.
 * Everything in the header is checked at open: length within the file, valid
 * JSON, known dtype, shape x element size == byte span, spans inside the data
 * region and not overlapping, unique names. Tensor bytes are not touched
 * until asked for. qz writes a CRC-32 (zlib) of each tensor's bytes into the
 * metadata as "qz.crc32.<name>" = 8 hex digits; qz_st_get verifies it on
 * first access when present. FORMAT.md documents what qz writes.
 */
#ifndef QZ_SAFETENSORS_H
#define QZ_SAFETENSORS_H

#include "qz_common.h"

#include <cJSON.h>

/* Element types. Values are fixed: they appear in no file, but never reorder. */
typedef enum qz_dtype {
    QZ_DTYPE_F32 = 0,
    QZ_DTYPE_F16 = 1,
    QZ_DTYPE_BF16 = 2,
    QZ_DTYPE_I8 = 3,
    QZ_DTYPE_U8 = 4,
    QZ_DTYPE_I16 = 5,
    QZ_DTYPE_I32 = 6,
    QZ_DTYPE_I64 = 7,
    QZ_DTYPE_BOOL = 8,
    QZ_DTYPE_F64 = 9,
    QZ_DTYPE_COUNT
} qz_dtype;

const char *qz_dtype_name(qz_dtype t);  /* the safetensors spelling: "F32", ... */
size_t qz_dtype_size(qz_dtype t);       /* bytes per element */
int qz_dtype_from_name(const char *s);  /* -1 when unknown */

/* x[i] <- x[i] rounded to dt and back (F16, BF16; F32 leaves x unchanged):
 * what storing and reloading as dt does. */
void qz_dtype_round_f32(float *x, int64_t n, qz_dtype dt);

#define QZ_ST_MAX_DIMS 8
#define QZ_ST_MAX_HEADER (100u << 20)   /* larger headers are rejected */
#define QZ_ST_MAX_TENSORS (1 << 20)     /* tensors per file, likewise */

typedef struct qz_st_tensor {
    char *name;
    qz_dtype dtype;
    int ndim;
    int64_t shape[QZ_ST_MAX_DIMS];
    int64_t numel;
    const void *data;   /* into the mapping; valid until qz_st_close */
    size_t nbytes;
    int crc_state;      /* 0 unchecked, 1 verified or no checksum stored */
} qz_st_tensor;

typedef struct qz_st_file {
    char *path;
    void *map;          /* whole file, read-only */
    size_t map_size;
    const unsigned char *data_start;
    int64_t n_tensors;
    qz_st_tensor *tensors;  /* sorted by name */
    cJSON *metadata;        /* "__metadata__" object or NULL; owned */
} qz_st_file;

/* Maps and validates path. Errors: QZ_EINPUT (bad file, one line naming file,
 * tensor and what is wrong), QZ_EINTERNAL (mmap failure). */
int qz_st_open(qz_st_file **out, const char *path, qz_error *err);
void qz_st_close(qz_st_file *f);

/* Lookup without checks; NULL when absent. */
qz_st_tensor *qz_st_find(const qz_st_file *f, const char *name);

/* Lookup that fails (QZ_EINPUT) when the tensor is missing or its stored CRC
 * does not match; the CRC is computed once. */
int qz_st_get(qz_st_file *f, const char *name, qz_st_tensor **t, qz_error *err);

/* t's data, or a malloc'd copy in *copy when the file puts it off the
 * alignment its type needs (safetensors does not align tensors). NULL when
 * the copy cannot be made. Free *copy after use. */
const void *qz_st_aligned_data(const qz_st_tensor *t, size_t align, void **copy);

/* A tensor lookup by name (shards, or one file); NULL when absent. */
typedef qz_st_tensor *(*qz_tensor_lookup)(void *ctx, const char *name);

/* Metadata string value or NULL. */
const char *qz_st_metadata(const qz_st_file *f, const char *key);

/* ---------------------------------------------------------------- writer --
 * Tensors are streamed to "<path>.data.tmp" as they are added (so memory
 * stays at one tensor), the header and data are assembled into
 * "<path>.tmp" by qz_st_writer_finish and renamed onto path. qz_st_writer_free
 * without finish removes every temporary file. Header entries are in the
 * order added; the header is padded with spaces to a multiple of 8 bytes. */
typedef struct qz_st_writer qz_st_writer;

int qz_st_writer_open(qz_st_writer **out, const char *path, qz_error *err);
int qz_st_writer_add(qz_st_writer *w, const char *name, qz_dtype dtype, int ndim,
                     const int64_t *shape, const void *data, size_t nbytes, qz_error *err);
/* Adds FP32 data x stored as dtype (F32, F16 or BF16; round to nearest even). */
int qz_st_writer_add_f32(qz_st_writer *w, const char *name, const float *x, int ndim, const int64_t *shape,
                         qz_dtype dtype, qz_error *err);
/* Adds a "__metadata__" string; "format":"pt" is always written. */
int qz_st_writer_set_meta(qz_st_writer *w, const char *key, const char *value, qz_error *err);
int qz_st_writer_finish(qz_st_writer *w, qz_error *err);
void qz_st_writer_free(qz_st_writer *w);

/* zlib's CRC-32 of n bytes continuing crc (0 to start), for any n: the
 * checksum of qz's tensors and caches. */
uint32_t qz_crc32(uint32_t crc, const void *data, size_t n);

#endif
