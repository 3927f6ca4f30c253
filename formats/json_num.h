/* json_num.h - the one way qz reads an integer out of untrusted JSON
 * (config.json, quantization_config, tokenizer.json, gate files).
 *
 * cJSON's valueint truncates (4.7 -> 4) and saturates (1e20 -> INT_MAX), and
 * a JSON null reads as 0; every integer field therefore goes through
 * qz_json_int, which accepts only a number with an integral value inside the
 * caller's range. Ranges are documented in docs/hardening.md.
 */
#ifndef QZ_JSON_NUM_H
#define QZ_JSON_NUM_H

#include "qz_common.h"

#include <cJSON.h>

/* 1 and *out = v's value when v is a JSON number, integral, within [lo, hi];
 * 0 otherwise (absent, null, a string, 4.7, 1e20, NaN) with *out untouched.
 * lo and hi must lie within +-2^53 so that the comparison is exact. */
int qz_json_int(const cJSON *v, int64_t lo, int64_t hi, int64_t *out);

#endif
