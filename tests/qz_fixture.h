/* qz_fixture.h - reader for the .qzfx golden fixtures the unit tests compare
 * against (written once by the numpy scripts in scripts/, e.g.
 * gen_gptq_fixture.py, which documents the format): the line "QZFX 1", then
 * records, each a text line "name dtype ndim d0 d1 ..." followed by the raw
 * little-endian array bytes (dtype f32 f64 i32 u8 i8), then the line "END".
 *
 * Include after qz_test.h. Call fx_init() once from main(); then fx_open()
 * a fixture by name, fx_get() its arrays, fx_free() it.
 */
#ifndef QZ_FIXTURE_H
#define QZ_FIXTURE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tests/qz_test.h"

#define FX_MAX 24

typedef struct fx_array {
    char name[32], dtype[8];
    int64_t dims[4], n;
    int ndim;
    void *data;
} fx_array;

typedef struct fx_file {
    fx_array a[FX_MAX];
    int n;
} fx_file;

static char fx_dir[512];            /* directory of the fixtures */
static const char *fx_script = "";  /* the script that regenerates them */

/* Fixtures live in tests/fixtures/<sub>, relative to the checkout (the
 * usual cwd) or, when run from elsewhere, to the binary build/tests/<exe>. */
static inline void fx_init(const char *argv0, const char *sub, const char *script)
{
    struct stat st;
    snprintf(fx_dir, sizeof fx_dir, "tests/fixtures/%s", sub);
    if (stat(fx_dir, &st) != 0) {
        const char *slash = strrchr(argv0, '/');
        int len = slash ? (int)(slash - argv0) : 1;
        snprintf(fx_dir, sizeof fx_dir, "%.*s/../../tests/fixtures/%s", len,
                 slash ? argv0 : ".", sub);
    }
    fx_script = script;
}

static inline size_t fx_elem(const char *dt)
{
    if (!strcmp(dt, "f32") || !strcmp(dt, "i32")) return 4;
    if (!strcmp(dt, "f64")) return 8;
    if (!strcmp(dt, "u8") || !strcmp(dt, "i8")) return 1;
    return 0;
}

static inline void fx_free(fx_file *f)
{
    for (int i = 0; i < f->n; i++) free(f->a[i].data);
    f->n = 0;
}

/* 0 on success, -1 missing, -2 malformed (f is then empty). */
static inline int fx_load(fx_file *f, const char *name)
{
    char path[1024], line[256];
    snprintf(path, sizeof path, "%s/%s.qzfx", fx_dir, name);
    memset(f, 0, sizeof *f);
    FILE *fp = fopen(path, "rb");
    if (!fp) return -1;
    if (!fgets(line, sizeof line, fp) || strcmp(line, "QZFX 1\n")) goto bad;
    while (fgets(line, sizeof line, fp) && strcmp(line, "END\n") && f->n < FX_MAX) {
        fx_array *a = &f->a[f->n];
        long long d[4] = {1, 1, 1, 1};
        int k = sscanf(line, "%31s %7s %d %lld %lld %lld %lld", a->name, a->dtype, &a->ndim,
                       &d[0], &d[1], &d[2], &d[3]);
        if (k < 3 || a->ndim < 1 || a->ndim > 4 || k != 3 + a->ndim || !fx_elem(a->dtype)) goto bad;
        a->n = 1;
        for (int i = 0; i < a->ndim; i++) a->n *= a->dims[i] = d[i];
        a->data = malloc((size_t)a->n * fx_elem(a->dtype));
        f->n++;
        if (!a->data || fread(a->data, fx_elem(a->dtype), (size_t)a->n, fp) != (size_t)a->n)
            goto bad;
    }
    fclose(fp);
    return 0;
bad:
    fclose(fp);
    fx_free(f);
    return -2;
}

/* The array called name, or NULL when absent; a dtype mismatch is a failed check. */
static inline fx_array *fx_get(fx_file *f, const char *name, const char *dtype)
{
    for (int i = 0; i < f->n; i++)
        if (!strcmp(f->a[i].name, name)) {
            CHECK(!strcmp(f->a[i].dtype, dtype), "fixture array %s is %s, want %s", name,
                  f->a[i].dtype, dtype);
            return strcmp(f->a[i].dtype, dtype) ? NULL : &f->a[i];
        }
    return NULL;
}

/* Loads a fixture or records a failure (fixtures are part of the repo). */
static inline int fx_open(fx_file *f, const char *name)
{
    int rc = fx_load(f, name);
    CHECK(rc == 0, "cannot read fixture %s/%s.qzfx (%s); regenerate with python3 %s", fx_dir,
          name, rc == -1 ? "missing" : "malformed", fx_script);
    return rc;
}

#endif
