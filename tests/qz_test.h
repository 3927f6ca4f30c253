/* qz_test.h - the tiny harness every unit test uses.
 *
 * A test program is a list of `static void test_x(void)` functions run by
 * QZ_RUN(test_x). Each prints one line the runner (tests/run.sh) counts:
 *   PASS name | FAIL name: first failures | SKIP name: reason
 * CHECK* record a failure and keep going; the first 10 are printed.
 * Numeric checks use abs + rel*|ref| tolerances (named by the caller).
 */
#ifndef QZ_TEST_H
#define QZ_TEST_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int qzt_fails_in_test, qzt_total_pass, qzt_total_fail, qzt_skipped;
static char qzt_skip_reason[2048];

#define CHECK(cond, ...)                                                        \
    do {                                                                        \
        if (!(cond)) {                                                          \
            if (qzt_fails_in_test++ < 10) {                                     \
                fprintf(stdout, "  %s:%d: check '%s' failed: ", __FILE__,       \
                        __LINE__, #cond);                                       \
                fprintf(stdout, __VA_ARGS__);                                   \
                fputc('\n', stdout);                                            \
            }                                                                   \
        }                                                                       \
    } while (0)

/* |got - want| <= abs_tol + rel_tol*|want| */
#define CHECK_CLOSE(got, want, abs_tol, rel_tol)                                \
    do {                                                                        \
        double g_ = (double)(got), w_ = (double)(want);                         \
        CHECK(fabs(g_ - w_) <= (abs_tol) + (rel_tol) * fabs(w_) ||              \
                  (isnan(g_) && isnan(w_)),                                     \
              "%s = %.9g, want %.9g", #got, g_, w_);                            \
    } while (0)

#define SKIP(...)                                                               \
    do {                                                                        \
        snprintf(qzt_skip_reason, sizeof qzt_skip_reason, __VA_ARGS__);         \
        qzt_skipped = 1;                                                        \
        return;                                                                 \
    } while (0)

#define QZ_RUN(fn)                                                              \
    do {                                                                        \
        qzt_fails_in_test = 0;                                                  \
        qzt_skipped = 0;                                                        \
        fn();                                                                   \
        if (qzt_skipped)                                                        \
            printf("SKIP %s: %s\n", #fn, qzt_skip_reason);                      \
        else if (qzt_fails_in_test) {                                           \
            printf("FAIL %s: %d failed checks\n", #fn, qzt_fails_in_test);      \
            qzt_total_fail++;                                                   \
        } else {                                                                \
            printf("PASS %s\n", #fn);                                           \
            qzt_total_pass++;                                                   \
        }                                                                       \
        fflush(stdout);                                                         \
    } while (0)

#define QZ_TEST_EXIT() return qzt_total_fail ? 1 : 0

/* Path of the shared reference directory (models, data): $SHARED or ../shared. */
static inline const char *qzt_shared(void)
{
    const char *s = getenv("SHARED");
    return s && *s ? s : "../shared";
}

/* A fresh directory /tmp/qz_test_<tag>_<pid> in dir (cap bytes), and its
 * removal at the end of a test program. */
#include <sys/stat.h>
#include <unistd.h>
static inline void qzt_tmpdir(char *dir, size_t cap, const char *tag)
{
    snprintf(dir, cap, "/tmp/qz_test_%s_%d", tag, (int)getpid());
    mkdir(dir, 0700);
}

static inline int qzt_rmdir(const char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd);
}

#endif
