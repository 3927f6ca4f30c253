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

/* The fixed grid of one block (see "Quantizing" below): fills the block's
 * stored parameters (d, dmin, sub-scales; quants zero) from its block_size
 * weights x - by llama.cpp's reference rule when qw is NULL, else weighted
 * by the block_size importances qw (>= 0; sigma2: the mean of x^2 over the
 * whole row, used by the 32-element types) - and for each of its
 * block_size / grid_group groups the grid value(c) = scale * (c - zero) +
 * offset, c in [0, grid_maxq]; types without an offset set it to -0.0f,
 * the exact additive identity, so the value is bit for bit the
 * dequantizer's (signed zeros included). */
typedef void (*qz_ggml_params_fn)(const float *x, const float *qw, float sigma2, void *block, float *scale, int32_t *zero,
                                  float *offset);
/* Stores block_size codes in [0, grid_maxq] into a block whose parameters
 * are already set. */
typedef void (*qz_ggml_pack_fn)(const uint8_t *codes, void *block);

typedef struct qz_ggml_traits {
    const char *name;           /* "Q4_K"; NULL: unsupported id */
    int64_t block_size;         /* elements per block */
    size_t type_size;           /* bytes per block */
    qz_ggml_to_float to_float;
    /* quantized types qz writes (NULL otherwise): */
    qz_ggml_params_fn params;
    qz_ggml_pack_fn pack;
    int64_t grid_group;         /* elements sharing one (scale, zero, offset) */
    int grid_maxq;              /* largest code */
    int file_type;              /* general.file_type of a file mostly of this type (llama_ftype) */
} qz_ggml_traits;

/* Traits of type id t, or NULL when t is not one qz reads. */
const qz_ggml_traits *qz_ggml_type_traits(int t);

/* "Q4_K", or "?" for an unsupported id. */
const char *qz_ggml_type_name(int t);

/* The supported names separated by spaces, for error messages. */
const char *qz_ggml_supported_names(void);

/* Type id of a name ("q4_k" or "Q4_K"), -1 when unknown. */
int qz_ggml_type_from_name(const char *name);

/* ----------------------------------------------------------- quantizing
 *
 * qz writes F32, F16 and the quantized types Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 Q4_K
 * Q5_K Q6_K. Quantizing is split in two so that GPTQ can use the same grid:
 *  1. params: each block's stored parameters are chosen from the weights
 *     as llama.cpp chooses them. Without importances, as its reference
 *     quantizer (ggml-quants.c quantize_row_*_ref): Q4_0/Q5_0
 *     d = (signed max) / -8 (-16); Q4_1/Q5_1 d = (max - min) / 15 (31),
 *     m = min; Q8_0 d = amax / 127; Q4_K/Q5_K make_qkx2_quants per 32
 *     (weights rms + |x|; rmin -1 / -0.5, rdelta 0.1, 20 / 15 steps),
 *     6-bit sub-scales and mins against the super-block maxima / 63; Q6_K
 *     make_qx_quants(16, 32, rmse 1) per 16, int8 sub-scales against
 *     -128 / the signed max scale. With importances qw (one per column,
 *     e.g. an imatrix or a Hessian diagonal), as llama-quantize --imatrix
 *     (quantize_row_*_impl): element weights qw sqrt(sigma2 + x^2), sigma2
 *     the row's mean x^2 for the 32-element types and twice the
 *     super-block's for Q4_K/Q5_K; Q4_0/Q5_0 make_qx_quants(32, 8 / 16,
 *     rmse 1) with those weights; Q4_1/Q5_1 make_qkx3_quants(rmin -0.9,
 *     rdelta 0.05, 36 steps); Q4_K/Q5_K make_qkx3_quants per 32, then
 *     make_qp_quants for d / dmin and the 6-bit codes (weighted by each
 *     sub-block's summed weight); Q6_K make_qx_quants weighted by qw itself;
 *     Q8_0 the reference rule. The parameters are then in exactly their
 *     stored form (FP16 d / dmin, 6-/8-bit sub-scales), so the grid each
 *     element is rounded to is the one the file dequantizes.
 *  2. codes: c = clamp(nearest((x - offset) / scale) + zero, 0, maxq) with
 *     ties to even (scale 0: c = zero) by round to nearest or GPTQ
 *     (libquant/ggml_grid.h; rounding is an algorithm, so it lives there),
 *     packed by pack.
 * DIFFERENCE from the reference for the 32-element types: the reference
 * rounds x * (1 / d) with its fp32 d (Q4/Q5: trunc(x/d + 8.5), ties away
 * from zero), qz rounds on the stored FP16 d; so a code can differ by one
 * where x lies near the midpoint of two grid values, and qz's is the
 * nearer on the grid the file holds. The K-quants' reference already
 * rounds on the stored grid; there qz's codes differ only in sub-blocks
 * whose 6-bit scale rounded to 0 (the reference keeps its first-pass codes,
 * qz writes 0; the values are the same). The weighted Q4_0/Q5_0/Q4_1/Q5_1
 * keep the codes of llama.cpp's search (found with its fp32 scale); qz
 * rounds on the stored grid there too, so a code can differ and qz's is
 * the nearer.
 */

/* Blocks of a row: ne0 / block_size; the row's bytes are that x type_size. */
size_t qz_ggml_row_size(int t, int64_t ne0);

/* Grid groups of a row of ne0 elements (ne0 / grid_group). */
int64_t qz_ggml_grid_groups(int t, int64_t ne0);

/* Step 1 over a row: parameters into the row's blocks at dst (quants
 * zero) and the grid of each group into scale/zero/offset
 * (qz_ggml_grid_groups entries each); qw: the ne0 importances of the
 * row's columns, or NULL for the reference rule. t must have params
 * (asserted) and ne0 be a multiple of its block size. */
void qz_ggml_row_params(int t, const float *x, const float *qw, int64_t ne0, void *dst, float *scale, int32_t *zero,
                        float *offset);

/* The same for one block at dst (any alignment), with sigma2 the row's
 * qz_ggml_row_sigma2 (ignored when qw is NULL): for callers that go block
 * by block. */
void qz_ggml_block_params(int t, const float *x, const float *qw, float sigma2, void *dst, float *scale, int32_t *zero,
                          float *offset);

/* Mean of x^2 over a row of ne0, summed in fp32 in order (llama.cpp's
 * sigma2 of the weighted 32-element rules). */
float qz_ggml_row_sigma2(const float *x, int64_t ne0);

/* Packs ne0 codes into the row's blocks at dst (parameters already set). */
void qz_ggml_row_pack(int t, const uint8_t *codes, int64_t ne0, void *dst);

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
