/* junit.h - JUnit XML reports, the test-result format CI systems
 * (GitHub Actions, GitLab, Jenkins) display: one <testsuite> holding one
 * <testcase> per check, a failed check carrying a <failure message="...">.
 * Written atomically (to "<path>.tmp", then renamed). */
#ifndef QZ_JUNIT_H
#define QZ_JUNIT_H

#include "qz_common.h"

typedef struct qz_junit_case {
    const char *name;
    const char *failure; /* NULL: passed; else the failure message (one line) */
} qz_junit_case;

/* <testsuite name=suite tests=n failures=... time=seconds> with every case
 * as <testcase classname=classname name=...>. Text is XML-escaped (control
 * characters become '?'). QZ_EINTERNAL when the file cannot be written. */
int qz_junit_write(const char *path, const char *suite, const char *classname, const qz_junit_case *cases, int n,
                   double seconds, qz_error *err);

#endif
