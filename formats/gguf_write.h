/* gguf_write.h - write a GGUF v3 file (llama.cpp's model format).
 *
 * Layout written (ggml/docs/gguf.md; FORMATS-AND-ALGORITHMS.md §6a): the
 * header, the key/values in the order added, the tensor infos in the order
 * added, zero padding to the alignment, then the tensors' bytes in info
 * order, each padded with zeros to the alignment, offsets the running sum
 * of the padded sizes - the contiguous layout llama.cpp's reader requires
 * ("tensor has offset X, expected Y"). general.alignment is written as a
 * uint32 (32 unless set).
 *
 * Use: open, add key/values and every tensor's info, begin (writes
 * everything before the data), write each tensor's bytes in any order,
 * finish. The file is written under "<path>.qz-tmp-<pid>" and renamed onto
 * path by finish after an fsync, so a failure never leaves a partial file
 * at path; qz_gguf_writer_free without finish removes the temporary file.
 * Errors: QZ_EINPUT for a bad key/tensor (duplicate, name too long, ne[0]
 * not a multiple of the type's block size, a tensor written twice or never,
 * a wrong byte count), QZ_EINTERNAL for I/O and memory.
 */
#ifndef QZ_GGUF_WRITE_H
#define QZ_GGUF_WRITE_H

#include "gguf.h"

typedef struct qz_gguf_writer qz_gguf_writer;

/* path must not exist unless force (then it is replaced at finish). */
int qz_gguf_writer_open(qz_gguf_writer **out, const char *path, int force, qz_error *err);
void qz_gguf_writer_free(qz_gguf_writer *w); /* NULL is a no-op; removes the temporary file unless finished */

/* ------------------------------------------------------------ key/values */

int qz_gguf_writer_has_kv(const qz_gguf_writer *w, const char *key);
int qz_gguf_writer_kv_u32(qz_gguf_writer *w, const char *key, uint32_t v, qz_error *err);
int qz_gguf_writer_kv_i32(qz_gguf_writer *w, const char *key, int32_t v, qz_error *err);
int qz_gguf_writer_kv_f32(qz_gguf_writer *w, const char *key, float v, qz_error *err);
int qz_gguf_writer_kv_bool(qz_gguf_writer *w, const char *key, int v, qz_error *err);
int qz_gguf_writer_kv_str(qz_gguf_writer *w, const char *key, const char *s, size_t len, qz_error *err);
/* Arrays: n strings (lens[i] bytes each; lens NULL: NUL-terminated), int32, float32. */
int qz_gguf_writer_kv_strs(qz_gguf_writer *w, const char *key, const char *const *s, const size_t *lens, uint64_t n, qz_error *err);
int qz_gguf_writer_kv_i32s(qz_gguf_writer *w, const char *key, const int32_t *v, uint64_t n, qz_error *err);
int qz_gguf_writer_kv_f32s(qz_gguf_writer *w, const char *key, const float *v, uint64_t n, qz_error *err);
/* A key/value of an open GGUF, as it is (any type). */
int qz_gguf_writer_kv_copy(qz_gguf_writer *w, const qz_gguf_kv *kv, qz_error *err);

/* ---------------------------------------------------------------- tensors */

/* Declares a tensor: ne[0] innermost (a (rows, cols) matrix is {cols, rows}). */
int qz_gguf_writer_tensor(qz_gguf_writer *w, const char *name, int ggml_type, int n_dims, const int64_t *ne, qz_error *err);
/* Writes the header, key/values and tensor infos; no more of them after. */
int qz_gguf_writer_begin(qz_gguf_writer *w, qz_error *err);
/* The bytes of a declared tensor (exactly its size). */
int qz_gguf_writer_data(qz_gguf_writer *w, const char *name, const void *data, size_t nbytes, qz_error *err);
/* Checks every tensor was written, pads, syncs and renames onto path. */
int qz_gguf_writer_finish(qz_gguf_writer *w, qz_error *err);

#endif
