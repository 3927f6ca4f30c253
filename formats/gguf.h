/* gguf.h - read GGUF v2/v3 files (llama.cpp's model format): mmap'ed, lazy,
 * validated at open.
 *
 * Layout (ggml/docs/gguf.md; FORMATS-AND-ALGORITHMS.md §6a), little-endian:
 *   "GGUF", u32 version (2 or 3), u64 n_tensors, u64 n_kv,
 *   n_kv x { string key, u32 value_type, value },
 *   n_tensors x { string name, u32 n_dims, u64 ne[n_dims], u32 ggml_type,
 *                 u64 offset },
 *   zero padding to the alignment, then the data region; each offset is
 *   relative to the data region's start.
 * A string is u64 length + bytes (no NUL); an array is u32 element type +
 * u64 count + elements; bool is one byte (0 or 1).
 *
 * Checked at open, each failure QZ_EINPUT naming the file, the field or
 * tensor, the value and the allowed range: magic, version, counts against
 * the bytes left (so nothing is allocated from an unchecked count), every
 * string and array length inside the file, value types known, arrays not
 * nested, keys unique, general.alignment a u32 power of two (default 32),
 * tensor names non-empty, shorter than QZ_GGUF_MAX_NAME and unique,
 * 1 <= n_dims <= QZ_GGUF_MAX_DIMS, ne[i] >= 0 with the element count not
 * overflowing, ne[0] a multiple of the type's block size, the type one
 * formats/gguf_quants.h supports, every offset a multiple of the alignment,
 * every tensor's bytes (ne x type size / block size) inside the file and no
 * two overlapping. Tensor bytes are not read until a caller reads them.
 */
#ifndef QZ_GGUF_H
#define QZ_GGUF_H

#include "qz_common.h"

#include <cJSON.h>

#define QZ_GGUF_MAX_DIMS 4
#define QZ_GGUF_MAX_NAME 64          /* tensor names are shorter (ggml's GGML_MAX_NAME) */
#define QZ_GGUF_DEFAULT_ALIGNMENT 32

/* Metadata value types; the values are the file's. */
typedef enum qz_gguf_vtype {
    QZ_GGUF_UINT8 = 0,
    QZ_GGUF_INT8 = 1,
    QZ_GGUF_UINT16 = 2,
    QZ_GGUF_INT16 = 3,
    QZ_GGUF_UINT32 = 4,
    QZ_GGUF_INT32 = 5,
    QZ_GGUF_FLOAT32 = 6,
    QZ_GGUF_BOOL = 7,
    QZ_GGUF_STRING = 8,
    QZ_GGUF_ARRAY = 9,
    QZ_GGUF_UINT64 = 10,
    QZ_GGUF_INT64 = 11,
    QZ_GGUF_FLOAT64 = 12,
    QZ_GGUF_VTYPE_COUNT
} qz_gguf_vtype;

const char *qz_gguf_vtype_name(qz_gguf_vtype t); /* "uint8", ..., "float64"; "?" */

/* A string inside the mapping: not NUL-terminated (print with "%.*s"). */
typedef struct qz_gguf_str {
    const char *s;
    size_t len;
} qz_gguf_str;

/* One key/value pair. Pointers point into the mapping or into storage the
 * qz_gguf owns; valid until qz_gguf_close. */
typedef struct qz_gguf_kv {
    qz_gguf_str key;
    qz_gguf_vtype type;
    qz_gguf_vtype elem_type;       /* arrays: the element type (never ARRAY) */
    uint64_t count;                /* arrays: number of elements; 1 otherwise */
    const unsigned char *data;     /* scalar value / numeric array elements (unaligned, little-endian) */
    qz_gguf_str str;               /* STRING value */
    qz_gguf_str *strs;             /* array of STRING: count entries */
} qz_gguf_kv;

typedef struct qz_gguf_tensor {
    char name[QZ_GGUF_MAX_NAME];   /* NUL-terminated */
    int type;                      /* ggml type id (qz_ggml_type, gguf_quants.h) */
    int n_dims;
    int64_t ne[QZ_GGUF_MAX_DIMS];  /* ne[0] innermost: a (rows, cols) matrix has ne = {cols, rows}; unused dims 1 */
    int64_t numel;
    uint64_t offset;               /* from the data region's start */
    const void *data;              /* into the mapping */
    size_t nbytes;                 /* numel / block size x bytes per block */
} qz_gguf_tensor;

typedef struct qz_gguf qz_gguf;

/* Maps and validates path. QZ_EINPUT on a bad file (one line), QZ_EINTERNAL
 * on mmap or memory failure. */
int qz_gguf_open(qz_gguf **out, const char *path, qz_error *err);
void qz_gguf_close(qz_gguf *g); /* NULL is a no-op */

const char *qz_gguf_path(const qz_gguf *g);
uint32_t qz_gguf_version(const qz_gguf *g);
size_t qz_gguf_alignment(const qz_gguf *g);
size_t qz_gguf_file_size(const qz_gguf *g);

/* ------------------------------------------------------------ key/values */

int64_t qz_gguf_n_kv(const qz_gguf *g);
const qz_gguf_kv *qz_gguf_kv_at(const qz_gguf *g, int64_t i); /* file order; NULL out of range */
const qz_gguf_kv *qz_gguf_find_kv(const qz_gguf *g, const char *key); /* NULL when absent */

/* Typed lookups. When key is absent: QZ_EINPUT if required, else QZ_OK
 * with *v untouched (set the default first). Present with another type:
 * QZ_EINPUT naming key, its type and the wanted one.
 * _int accepts every integer type (a uint64 above INT64_MAX is refused);
 * _float accepts FLOAT32 and FLOAT64; _bool BOOL; _string STRING. */
int qz_gguf_get_int(const qz_gguf *g, const char *key, int required, int64_t *v, qz_error *err);
int qz_gguf_get_float(const qz_gguf *g, const char *key, int required, double *v, qz_error *err);
int qz_gguf_get_bool(const qz_gguf *g, const char *key, int required, int *v, qz_error *err);
int qz_gguf_get_string(const qz_gguf *g, const char *key, int required, qz_gguf_str *v, qz_error *err);
/* An ARRAY whose elements are elem (QZ_GGUF_VTYPE_COUNT: any); *kv stays
 * NULL when absent and not required. */
int qz_gguf_get_array(const qz_gguf *g, const char *key, qz_gguf_vtype elem, int required, const qz_gguf_kv **kv,
                      qz_error *err);

/* Element i (< kv->count) of an array of integers / floats / strings, or of
 * a scalar kv at i = 0. The element type must match (asserted): integers for
 * _int (uint64 wraps above INT64_MAX: check kv->elem_type), FLOAT32/FLOAT64
 * for _float. */
int64_t qz_gguf_kv_int(const qz_gguf_kv *kv, uint64_t i);
double qz_gguf_kv_float(const qz_gguf_kv *kv, uint64_t i);
qz_gguf_str qz_gguf_kv_str(const qz_gguf_kv *kv, uint64_t i);

/* Every key/value pair as one cJSON object {key: value}: integers and floats
 * as numbers (a uint64/int64 beyond 2^53 loses precision, as any JSON
 * number does), bool as true/false, strings as strings, arrays as arrays.
 * Caller owns *out (cJSON_Delete). QZ_EINTERNAL when memory runs out. */
int qz_gguf_metadata_json(const qz_gguf *g, cJSON **out, qz_error *err);

/* ---------------------------------------------------------------- tensors */

int64_t qz_gguf_n_tensors(const qz_gguf *g);
const qz_gguf_tensor *qz_gguf_tensor_at(const qz_gguf *g, int64_t i); /* file order; NULL out of range */
const qz_gguf_tensor *qz_gguf_find_tensor(const qz_gguf *g, const char *name); /* NULL when absent */

/* t's elements as FP32 into dst (t->numel floats), in t's order (ne[0]
 * fastest). QZ_EINPUT when the type has no dequantizer. */
int qz_gguf_tensor_to_f32(const qz_gguf *g, const qz_gguf_tensor *t, float *dst, qz_error *err);

#endif
