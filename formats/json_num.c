/* json_num.c - range-checked integers from JSON (see json_num.h). */
#include "json_num.h"

#include <math.h>

int qz_json_int(const cJSON *v, int64_t lo, int64_t hi, int64_t *out)
{
    QZ_ASSERT(lo >= -(INT64_C(1) << 53) && hi <= (INT64_C(1) << 53) && lo <= hi);
    if (!cJSON_IsNumber(v)) return 0;
    double d = v->valuedouble;
    /* range before the cast: converting an out-of-range double is undefined */
    if (!isfinite(d) || d != floor(d) || d < (double)lo || d > (double)hi) return 0;
    *out = (int64_t)d;
    return 1;
}
