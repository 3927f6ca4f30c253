/* junit.c - writes JUnit XML (see junit.h): the de-facto schema CI systems
 * read (testsuite / testcase / failure), nothing more. */
#include "junit.h"

#include <errno.h>
#include <string.h>

/* s as XML attribute text. */
static void put_escaped(FILE *f, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&apos;", f); break;
        default: fputc(*p < 0x20 ? '?' : *p, f);
        }
    }
}

static void put_attr(FILE *f, const char *name, const char *value)
{
    fprintf(f, " %s=\"", name);
    put_escaped(f, value);
    fputc('"', f);
}

static void put_suite(FILE *f, const char *suite, const char *classname, const qz_junit_case *cases, int n, double seconds)
{
    int failures = 0;
    for (int i = 0; i < n; i++) failures += cases[i].failure != NULL;
    fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuite", f);
    put_attr(f, "name", suite);
    fprintf(f, " tests=\"%d\" failures=\"%d\" errors=\"0\" skipped=\"0\" time=\"%.3f\">\n", n, failures, seconds);
    for (int i = 0; i < n; i++) {
        fputs("  <testcase", f);
        put_attr(f, "classname", classname);
        put_attr(f, "name", cases[i].name);
        fputs(" time=\"0\"", f);
        if (!cases[i].failure) {
            fputs("/>\n", f);
            continue;
        }
        fputs(">\n    <failure type=\"gate\"", f);
        put_attr(f, "message", cases[i].failure);
        fputs("/>\n  </testcase>\n", f);
    }
    fputs("</testsuite>\n", f);
}

int qz_junit_write(const char *path, const char *suite, const char *classname, const qz_junit_case *cases, int n,
                   double seconds, qz_error *err)
{
    char tmp[4200];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) return qz_fail(err, QZ_EINPUT, "%s: path too long", path);
    FILE *f = fopen(tmp, "w");
    if (!f) return qz_fail(err, QZ_EINTERNAL, "%s: cannot create: %s", tmp, strerror(errno));
    put_suite(f, suite, classname, cases, n, seconds);
    int bad = ferror(f);
    if (fclose(f) != 0 || bad) {
        remove(tmp);
        return qz_fail(err, QZ_EINTERNAL, "%s: write failed: %s", tmp, strerror(errno));
    }
    if (rename(tmp, path) != 0) {
        int e = errno;
        remove(tmp);
        return qz_fail(err, QZ_EINTERNAL, "%s: cannot rename to %s: %s", tmp, path, strerror(e));
    }
    return QZ_OK;
}
