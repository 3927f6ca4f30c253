/* gguf_quants.h - ggml's tensor types: one traits table (name, block size,
 * bytes per block, dequantizer) and the packed block layouts of ggml's
 * ggml-common.h (FORMATS-AND-ALGORITHMS.md §6b), each followed by a
 * static_assert of its size.
 *
 * A row of a quantized tensor is ne[0] / block_size consecutive blocks;
 * every FP16 field (d, dmin, m) is IEEE binary16. The dequantizers are the
 * scalar reference (ggml's dequantize_row_*), exact float arithmetic in
 * ggml's order of operations, so results are bit-identical to ggml and to
 * the gguf Python package. A quantizer (GGUF output) goes beside
 * to_float in the traits as from_float.
 */
#ifndef QZ_GGUF_QUANTS_H
#define QZ_GGUF_QUANTS_H

#include <assert.h>
#include <stddef.h>
#include <stdint.h>

/* ggml type ids; the values are the file's (ggml.h enum ggml_type). Ids
 * without an entry in the traits table are refused by the reader. */
typedef enum qz_ggml_type {
    QZ_GGML_F32 = 0,
    QZ_GGML_F16 = 1,
    QZ_GGML_Q4_0 = 2,
    QZ_GGML_Q4_1 = 3,
    QZ_GGML_Q5_0 = 6,
    QZ_GGML_Q5_1 = 7,
    QZ_GGML_Q8_0 = 8,
    QZ_GGML_Q2_K = 10,
    QZ_GGML_Q3_K = 11,
    QZ_GGML_Q4_K = 12,
    QZ_GGML_Q5_K = 13,
    QZ_GGML_Q6_K = 14,
    QZ_GGML_BF16 = 30,
    QZ_GGML_TYPE_COUNT = 31
} qz_ggml_type;

/* y[0 .. n) from n / block_size blocks at x (any alignment). */
typedef void (*qz_ggml_to_float)(const void *x, float *y, int64_t n);

typedef struct qz_ggml_traits {
    const char *name;           /* "Q4_K"; NULL: unsupported id */
    int64_t block_size;         /* elements per block */
    size_t type_size;           /* bytes per block */
    qz_ggml_to_float to_float;
} qz_ggml_traits;

/* Traits of type id t, or NULL when t is not one qz reads. */
const qz_ggml_traits *qz_ggml_type_traits(int t);

/* "Q4_K", or "?" for an unsupported id. */
const char *qz_ggml_type_name(int t);

/* The supported names separated by spaces, for error messages. */
const char *qz_ggml_supported_names(void);

/* ------------------------------------------------------- block layouts */

#define QZ_QK4_0 32
#define QZ_QK4_1 32
#define QZ_QK5_0 32
#define QZ_QK5_1 32
#define QZ_QK8_0 32
#define QZ_QK_K 256
#define QZ_K_SCALE_SIZE 12

typedef struct {
    uint16_t d;                 /* scale */
    uint8_t qs[QZ_QK4_0 / 2];   /* low nibble: element j, high: element j + 16 */
} qz_block_q4_0;
static_assert(sizeof(qz_block_q4_0) == 2 + QZ_QK4_0 / 2, "q4_0 block size");

typedef struct {
    uint16_t d, m;              /* y = q * d + m */
    uint8_t qs[QZ_QK4_1 / 2];
} qz_block_q4_1;
static_assert(sizeof(qz_block_q4_1) == 4 + QZ_QK4_1 / 2, "q4_1 block size");

typedef struct {
    uint16_t d;
    uint8_t qh[4];              /* 5th bits, u32 little-endian: bit j for element j */
    uint8_t qs[QZ_QK5_0 / 2];
} qz_block_q5_0;
static_assert(sizeof(qz_block_q5_0) == 2 + 4 + QZ_QK5_0 / 2, "q5_0 block size");

typedef struct {
    uint16_t d, m;
    uint8_t qh[4];
    uint8_t qs[QZ_QK5_1 / 2];
} qz_block_q5_1;
static_assert(sizeof(qz_block_q5_1) == 4 + 4 + QZ_QK5_1 / 2, "q5_1 block size");

typedef struct {
    uint16_t d;
    int8_t qs[QZ_QK8_0];
} qz_block_q8_0;
static_assert(sizeof(qz_block_q8_0) == 2 + QZ_QK8_0, "q8_0 block size");

/* 16 sub-blocks of 16: 4-bit scale (low) and min (high) nibbles. */
typedef struct {
    uint8_t scales[QZ_QK_K / 16];
    uint8_t qs[QZ_QK_K / 4];    /* 2-bit quants */
    uint16_t d, dmin;
} qz_block_q2_K;
static_assert(sizeof(qz_block_q2_K) == 2 * 2 + QZ_QK_K / 16 + QZ_QK_K / 4, "q2_K block size");

/* 16 sub-blocks of 16 with 6-bit signed scales (offset 32) packed in 12 bytes. */
typedef struct {
    uint8_t hmask[QZ_QK_K / 8]; /* high bit of each quant (clear: subtract 4) */
    uint8_t qs[QZ_QK_K / 4];    /* low 2 bits */
    uint8_t scales[12];
    uint16_t d;
} qz_block_q3_K;
static_assert(sizeof(qz_block_q3_K) == 2 + QZ_QK_K / 4 + QZ_QK_K / 8 + 12, "q3_K block size");

/* 8 sub-blocks of 32, 6-bit (scale, min) pairs packed in 12 bytes. */
typedef struct {
    uint16_t d, dmin;
    uint8_t scales[QZ_K_SCALE_SIZE];
    uint8_t qs[QZ_QK_K / 2];
} qz_block_q4_K;
static_assert(sizeof(qz_block_q4_K) == 2 * 2 + QZ_K_SCALE_SIZE + QZ_QK_K / 2, "q4_K block size");

typedef struct {
    uint16_t d, dmin;
    uint8_t scales[QZ_K_SCALE_SIZE];
    uint8_t qh[QZ_QK_K / 8];
    uint8_t qs[QZ_QK_K / 2];
} qz_block_q5_K;
static_assert(sizeof(qz_block_q5_K) == 2 * 2 + QZ_K_SCALE_SIZE + QZ_QK_K / 2 + QZ_QK_K / 8, "q5_K block size");

/* 16 sub-blocks of 16, int8 scales; quants 4 low bits in ql, 2 high in qh, offset 32. */
typedef struct {
    uint8_t ql[QZ_QK_K / 2];
    uint8_t qh[QZ_QK_K / 4];
    int8_t scales[QZ_QK_K / 16];
    uint16_t d;
} qz_block_q6_K;
static_assert(sizeof(qz_block_q6_K) == 3 * QZ_QK_K / 4 + QZ_QK_K / 16 + 2, "q6_K block size");

#endif
