/* half.h - IEEE binary16 (FP16) and bfloat16 (BF16) <-> binary32 conversion.
 *
 * Narrowing rounds to nearest, ties to even; NaN stays NaN (quiet, sign and
 * top payload bits kept), Inf stays Inf, overflow goes to Inf, FP16
 * subnormals are produced and read exactly. Bit-level only: no FPU mode or
 * F16C instruction is assumed, so results are the same on every machine.
 */
#ifndef QZ_HALF_H
#define QZ_HALF_H

#include <stdint.h>

float qz_fp16_to_fp32(uint16_t h);
uint16_t qz_fp32_to_fp16(float f);
float qz_bf16_to_fp32(uint16_t b);
uint16_t qz_fp32_to_bf16(float f);

/* Row conversions (n elements). */
void qz_fp16_to_fp32_row(const uint16_t *src, float *dst, int64_t n);
void qz_fp32_to_fp16_row(const float *src, uint16_t *dst, int64_t n);
void qz_bf16_to_fp32_row(const uint16_t *src, float *dst, int64_t n);
void qz_fp32_to_bf16_row(const float *src, uint16_t *dst, int64_t n);

#endif
