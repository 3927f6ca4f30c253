/* qz_common.h - status codes, error reporting and assertions shared by every
 * qz module (libquant, formats, calib, tools).
 *
 * Library code never prints and never exits: a failing function fills a
 * qz_error and returns a negative status. The tool prints err.msg and maps the
 * status to an exit code with qz_status_exit_code(). A broken internal
 * invariant is a QZ_ASSERT, which stays on in release builds.
 */
#ifndef QZ_COMMON_H
#define QZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define QZ_VERSION "0.1.0"

/* Status codes: 0 is success, negatives are failures. */
enum qz_status {
    QZ_OK = 0,
    QZ_EINPUT = -2,    /* bad usage or bad input file: exit code 2 */
    QZ_EINTERNAL = -3, /* internal, I/O or resource error: exit code 3 */
};

/* Exit codes of every qz tool (README.md "Exit codes"; never renumbered). */
enum qz_exit {
    QZ_EXIT_OK = 0,
    QZ_EXIT_GATE = 1,
    QZ_EXIT_INPUT = 2,
    QZ_EXIT_INTERNAL = 3,
};

#define QZ_ERRMSG_MAX 1024

typedef struct qz_error {
    int status;               /* last failure status (QZ_EINPUT / QZ_EINTERNAL) */
    char msg[QZ_ERRMSG_MAX];  /* one line: what, where, why (no trailing newline) */
} qz_error;

/* Formats msg into err (err may be NULL) and returns status, so callers can
 * write `return qz_fail(err, QZ_EINPUT, "...", ...);`. */
int qz_fail(qz_error *err, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Exit code for a status returned by a library call. */
int qz_status_exit_code(int status);

/* Abort with file:line and the failed expression; on in every build. */
#define QZ_ASSERT(x)                                                            \
    do {                                                                        \
        if (!(x)) qz_assert_fail(#x, __FILE__, __LINE__);                       \
    } while (0)
_Noreturn void qz_assert_fail(const char *expr, const char *file, int line);

/* malloc/calloc that return NULL on size overflow as well as exhaustion. */
void *qz_malloc_array(size_t n, size_t elem_size);
void *qz_calloc_array(size_t n, size_t elem_size);

/* *out = a * b for sizes read from files or configs: returns 0, or -1 (and
 * *out = 0) when a or b is negative or the product overflows int64_t. Every
 * size product of untrusted numbers goes through it before an allocation. */
int qz_mul_overflow(int64_t a, int64_t b, int64_t *out);

/* Seconds from a monotonic clock. */
double qz_now(void);

#endif
