/* artifact.c - atomic output directories (see artifact.h). */
#include "artifact.h"

#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Removes dir and the plain files in it (artifacts have no subdirectories). */
static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char path[4096];
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

/* Creates the missing ancestors of path, like `mkdir -p $(dirname path)`. */
static int make_parents(const char *path, qz_error *err)
{
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) return qz_fail(err, QZ_EINPUT, "%s: path too long", path);
    for (char *p = strchr(buf + 1, '/'); p; p = strchr(p + 1, '/')) {
        *p = 0;
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return qz_fail(err, QZ_EINPUT, "%s: cannot create the parent directory %s: %s", path, buf, strerror(errno));
        *p = '/';
    }
    return QZ_OK;
}

int qz_artifact_same_dir(const char *a, const char *b)
{
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

int qz_artifact_open(qz_artifact **out, const char *dir, int force, qz_error *err)
{
    *out = NULL;
    struct stat st;
    if (!force && stat(dir, &st) == 0)
        return qz_fail(err, QZ_EINPUT, "%s: output exists (use --force to replace it)", dir);
    qz_artifact *a = calloc(1, sizeof *a);
    size_t n = strlen(dir) + 32;
    if (!a || !(a->final_dir = strdup(dir)) || !(a->tmp_dir = malloc(n))) {
        qz_artifact_free(a);
        return qz_fail(err, QZ_EINTERNAL, "out of memory");
    }
    snprintf(a->tmp_dir, n, "%s.qz-tmp-%d", dir, (int)getpid());
    remove_dir(a->tmp_dir);
    int prc = make_parents(dir, err);
    if (prc) {
        qz_artifact_free(a);
        return prc;
    }
    if (mkdir(a->tmp_dir, 0755) != 0) {
        int e = errno;
        free(a->tmp_dir);
        a->tmp_dir = NULL;
        qz_artifact_free(a);
        return qz_fail(err, QZ_EINPUT, "%s: cannot create the output directory: %s", dir, strerror(e));
    }
    char path[4096];
    int rc = qz_artifact_path(a, "qz-log.jsonl", path, sizeof path, err);
    if (rc == QZ_OK && !(a->log = fopen(path, "w"))) rc = qz_fail(err, QZ_EINTERNAL, "%s: cannot create: %s", path, strerror(errno));
    if (rc) {
        qz_artifact_free(a);
        return rc;
    }
    *out = a;
    return QZ_OK;
}

int qz_artifact_path(const qz_artifact *a, const char *name, char *buf, size_t cap, qz_error *err)
{
    int n = snprintf(buf, cap, "%s/%s", a->tmp_dir, name);
    if (n < 0 || (size_t)n >= cap) return qz_fail(err, QZ_EINTERNAL, "path too long: %s/%s", a->tmp_dir, name);
    return QZ_OK;
}

int qz_artifact_copy_if_present(qz_artifact *a, const char *src_dir, const char *name, qz_error *err)
{
    char src[4096], dst[4096];
    snprintf(src, sizeof src, "%s/%s", src_dir, name);
    FILE *in = fopen(src, "rb");
    if (!in) return QZ_OK;
    int rc = qz_artifact_path(a, name, dst, sizeof dst, err);
    FILE *out = rc == QZ_OK ? fopen(dst, "wb") : NULL;
    char buf[1 << 16];
    size_t k;
    int ok = out != NULL;
    while (ok && (k = fread(buf, 1, sizeof buf, in)) > 0) ok = fwrite(buf, 1, k, out) == k;
    ok = ok && !ferror(in);
    fclose(in);
    if (out && fclose(out) != 0) ok = 0;
    if (rc == QZ_OK && !ok) rc = qz_fail(err, QZ_EINTERNAL, "cannot copy %s to %s", src, dst);
    return rc;
}

int qz_artifact_write_json(qz_artifact *a, const char *name, const cJSON *json, qz_error *err)
{
    char path[4096];
    int rc = qz_artifact_path(a, name, path, sizeof path, err);
    if (rc) return rc;
    char *text = cJSON_Print(json);
    FILE *f = text ? fopen(path, "w") : NULL;
    int ok = f && fputs(text, f) >= 0 && fputc('\n', f) != EOF;
    if (f && fclose(f) != 0) ok = 0;
    free(text);
    return ok ? QZ_OK : qz_fail(err, QZ_EINTERNAL, "%s: cannot write", path);
}

int qz_artifact_log(qz_artifact *a, const cJSON *line, qz_error *err)
{
    char *text = cJSON_PrintUnformatted(line);
    int ok = text && fprintf(a->log, "%s\n", text) > 0;
    free(text);
    return ok ? QZ_OK : qz_fail(err, QZ_EINTERNAL, "%s: cannot write the log", a->tmp_dir);
}

int qz_artifact_commit(qz_artifact *a, qz_error *err)
{
    int ok = fclose(a->log) == 0;
    a->log = NULL;
    if (!ok) return qz_fail(err, QZ_EINTERNAL, "%s: cannot write the log", a->tmp_dir);
    struct stat st;
    char old[4200] = "";
    if (stat(a->final_dir, &st) == 0) { /* --force: move the old one aside, then drop it */
        snprintf(old, sizeof old, "%s.qz-old-%d", a->final_dir, (int)getpid());
        if (!S_ISDIR(st.st_mode) || rename(a->final_dir, old) != 0)
            return qz_fail(err, QZ_EINPUT, "%s: cannot replace (not a directory, or not writable)", a->final_dir);
    }
    if (rename(a->tmp_dir, a->final_dir) != 0) {
        int e = errno;
        if (*old) rename(old, a->final_dir);
        return qz_fail(err, QZ_EINTERNAL, "cannot rename %s to %s: %s", a->tmp_dir, a->final_dir, strerror(e));
    }
    if (*old) remove_dir(old);
    a->committed = 1;
    return QZ_OK;
}

void qz_artifact_free(qz_artifact *a)
{
    if (!a) return;
    if (a->log) fclose(a->log);
    if (!a->committed && a->tmp_dir) remove_dir(a->tmp_dir);
    free(a->final_dir);
    free(a->tmp_dir);
    free(a);
}
