/* qz_common.c - error formatting, assertion failure, checked allocation and
 * size arithmetic. */
#define _POSIX_C_SOURCE 200809L
#include "qz_common.h"

#include <stdarg.h>
#include <time.h>

int qz_fail(qz_error *err, int status, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->status = status;
    }
    return status;
}

int qz_status_exit_code(int status)
{
    if (status == QZ_OK) return QZ_EXIT_OK;
    if (status == QZ_EINPUT) return QZ_EXIT_INPUT;
    return QZ_EXIT_INTERNAL;
}

void qz_assert_fail(const char *expr, const char *file, int line)
{
    fprintf(stderr, "qz: internal error: assertion '%s' failed at %s:%d\n", expr, file, line);
    fflush(stderr);
    abort();
}

void *qz_malloc_array(size_t n, size_t elem_size)
{
    if (elem_size && n > SIZE_MAX / elem_size) return NULL;
    size_t bytes = n * elem_size;
    return malloc(bytes ? bytes : 1);
}

void *qz_calloc_array(size_t n, size_t elem_size)
{
    if (elem_size && n > SIZE_MAX / elem_size) return NULL;
    return calloc(n ? n : 1, elem_size ? elem_size : 1);
}

int qz_mul_overflow(int64_t a, int64_t b, int64_t *out)
{
    if (a < 0 || b < 0 || __builtin_mul_overflow(a, b, out)) {
        *out = 0;
        return -1;
    }
    return 0;
}

double qz_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
