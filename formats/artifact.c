/* artifact.c - atomic, durable output directories (see artifact.h): every
 * file and both directories fsynced before and after the commit's rename,
 * stale temporaries of killed runs reclaimed (docs/hardening.md). */
#include "artifact.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
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

/* 1 when dir is in_dir or one of its ancestors (replacing it would move
 * the input away). */
static int holds_input(const char *dir, const char *in_dir)
{
    char d[PATH_MAX], in[PATH_MAX];
    if (!realpath(dir, d) || !realpath(in_dir, in)) return 0;
    size_t n = strlen(d);
    return strcmp(d, in) == 0 || (strncmp(d, in, n) == 0 && (in[n] == '/' || (n == 1 && d[0] == '/')));
}

int qz_artifact_check_target(const char *dir, const char *in_dir, int force, qz_error *err)
{
    struct stat st;
    if (in_dir && holds_input(dir, in_dir))
        return qz_fail(err, QZ_EINPUT, "%s: the output directory is the input %s or contains it; choose another", dir, in_dir);
    if (stat(dir, &st) != 0) return QZ_OK;
    if (!force) return qz_fail(err, QZ_EINPUT, "%s: output exists (use --force to replace it)", dir);
    if (!S_ISDIR(st.st_mode))
        return qz_fail(err, QZ_EINPUT, "%s: exists and is not a directory (--force replaces only a directory)", dir);
    return QZ_OK;
}

/* dir's parent directory into buf ("." for a bare name). */
static const char *parent_of(const char *dir, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s", dir);
    size_t n = strlen(buf);
    while (n > 1 && buf[n - 1] == '/') buf[--n] = 0;
    char *slash = strrchr(buf, '/');
    if (!slash) snprintf(buf, cap, ".");
    else slash[slash == buf] = 0;
    return buf;
}

/* pid from "<base>.qz-tmp-<pid>" / "<base>.qz-old-<pid>" (kind "tmp" or
 * "old"), or 0 when name is not one of dir's. */
static long temp_pid(const char *name, const char *base, const char *kind)
{
    size_t n = strlen(base);
    if (strncmp(name, base, n) || strncmp(name + n, ".qz-", 4) || strncmp(name + n + 4, kind, 3) || name[n + 7] != '-') return 0;
    char *end;
    long pid = strtol(name + n + 8, &end, 10);
    return *end || pid <= 0 ? 0 : pid;
}

static int pid_gone(long pid)
{
    return pid != (long)getpid() && kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

/* One stale temporary of dir, kind "tmp" or "old", whose pid is gone. */
static void reclaim_one(const char *dir, const char *path, int is_old, qz_artifact_note note, void *ctx)
{
    struct stat st;
    char msg[12600];
    if (is_old && stat(dir, &st) != 0 && rename(path, dir) == 0) { /* killed inside a --force commit */
        snprintf(msg, sizeof msg, "restored %s from %s, left by a killed run", dir, path);
    } else {
        remove_dir(path);
        snprintf(msg, sizeof msg, "removed %s, left by a killed run", path);
    }
    if (note) note(ctx, msg);
}

void qz_artifact_reclaim_stale(const char *dir, qz_artifact_note note, void *ctx)
{
    char target[4096], pdir[4096], path[8300];
    snprintf(target, sizeof target, "%s", dir);
    size_t n = strlen(target);
    while (n > 1 && target[n - 1] == '/') target[--n] = 0; /* "out/" names "out" */
    const char *slash = strrchr(target, '/'), *base = slash ? slash + 1 : target;
    DIR *d = *base ? opendir(parent_of(target, pdir, sizeof pdir)) : NULL;
    if (!d) return;
    for (int pass = 0; pass < 2; pass++) { /* "old" first: a restored OUT makes the "tmp" of that run plain garbage */
        struct dirent *e;
        rewinddir(d);
        while ((e = readdir(d))) {
            long pid = temp_pid(e->d_name, base, pass == 0 ? "old" : "tmp");
            if (!pid || !pid_gone(pid)) continue;
            snprintf(path, sizeof path, "%s/%s", pdir, e->d_name);
            reclaim_one(target, path, pass == 0, note, ctx);
        }
    }
    closedir(d);
}

/* Fault injection for tests/cli/test_crash.sh (docs/hardening.md): with
 * QZ_CRASH_AT=<point> in the environment the process kills itself with
 * SIGKILL at that point, as a power cut or kill -9 would. */
static void crash_point(const char *point)
{
    const char *at = getenv("QZ_CRASH_AT");
    if (at && strcmp(at, point) == 0) raise(SIGKILL);
}

/* Data, then the directory entry: a power cut after the commit's rename
 * must not leave an artifact whose files are empty. */
static int close_synced(FILE *f)
{
    int ok = fflush(f) == 0 && fsync(fileno(f)) == 0;
    return fclose(f) == 0 && ok;
}

static int sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int ok = fd >= 0 && fsync(fd) == 0;
    if (fd >= 0) close(fd);
    return ok;
}

int qz_artifact_open(qz_artifact **out, const char *dir, int force, qz_error *err)
{
    *out = NULL;
    int rc0 = qz_artifact_check_target(dir, NULL, force, err);
    if (rc0) return rc0;
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
    crash_point("tmp-created");
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
    if (out && !close_synced(out)) ok = 0;
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
    if (f && !close_synced(f)) ok = 0;
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
    crash_point("before-commit");
    int ok = close_synced(a->log);
    a->log = NULL;
    if (!ok) return qz_fail(err, QZ_EINTERNAL, "%s: cannot write the log", a->tmp_dir);
    if (!sync_dir(a->tmp_dir)) return qz_fail(err, QZ_EINTERNAL, "%s: cannot sync the directory: %s", a->tmp_dir, strerror(errno));
    struct stat st;
    char old[4200] = "";
    /* --force: move the old one aside, then drop it. A run killed between the
     * two renames leaves OUT.qz-old-PID, which the next run puts back
     * (qz_artifact_reclaim_stale). */
    if (stat(a->final_dir, &st) == 0) {
        snprintf(old, sizeof old, "%s.qz-old-%d", a->final_dir, (int)getpid());
        if (!S_ISDIR(st.st_mode) || rename(a->final_dir, old) != 0)
            return qz_fail(err, QZ_EINPUT, "%s: cannot replace (not a directory, or not writable)", a->final_dir);
        crash_point("old-moved");
    }
    if (rename(a->tmp_dir, a->final_dir) != 0) {
        int e = errno;
        if (*old) rename(old, a->final_dir);
        return qz_fail(err, QZ_EINTERNAL, "cannot rename %s to %s: %s", a->tmp_dir, a->final_dir, strerror(e));
    }
    a->committed = 1;
    crash_point("renamed");
    if (*old) remove_dir(old);
    if (!sync_dir(parent_of(a->final_dir, old, sizeof old)))
        return qz_fail(err, QZ_EINTERNAL, "%s: cannot sync the parent directory: %s", a->final_dir, strerror(errno));
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
