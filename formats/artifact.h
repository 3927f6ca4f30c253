/* artifact.h - an output model directory written atomically.
 *
 * Everything is written into a temporary directory beside the target
 * ("<out>.qz-tmp-<pid>") and renamed onto the target by qz_artifact_commit;
 * qz_artifact_free without a commit removes the temporary directory, so a
 * failure or a crash never leaves a half artifact under the target's name.
 * An existing target is refused unless force is set, and with force it must
 * be a directory that is neither the input nor one of its ancestors
 * (qz_artifact_check_target, which tools call before any work).
 * Missing parents of the target are created first, as `mkdir -p` would.
 *
 * Durability: every file is fsynced before it is closed, the temporary
 * directory before the rename and the parent directory after it.
 *
 * Stale temporaries (docs/hardening.md): a run killed by a signal or a power
 * cut leaves "<out>.qz-tmp-<pid>", and one killed inside a --force commit
 * also "<out>.qz-old-<pid>" (the previous output, complete).
 * qz_artifact_reclaim_stale, which tools run before work, removes those whose
 * pid is no longer a live process; a stale "<out>.qz-old-<pid>" is renamed
 * back to "<out>" when "<out>" is missing, so the previous output comes back.
 */
#ifndef QZ_ARTIFACT_H
#define QZ_ARTIFACT_H

#include "qz_common.h"

#include <cJSON.h>

typedef struct qz_artifact {
    char *final_dir;
    char *tmp_dir;
    FILE *log;          /* qz-log.jsonl, one JSON object a line */
    int committed;
} qz_artifact;

/* QZ_EINPUT when dir may not be written: it exists and force is not set, it
 * exists and is not a directory, or it is in_dir or an ancestor of in_dir
 * (in_dir NULL: not checked). Touches nothing. */
int qz_artifact_check_target(const char *dir, const char *in_dir, int force, qz_error *err);

/* Reclaims dir's stale temporaries (see above); note(ctx, line) is told
 * about each one ("removed ...", "restored ..."). Never fails: what cannot
 * be removed stays. */
typedef void (*qz_artifact_note)(void *ctx, const char *line);
void qz_artifact_reclaim_stale(const char *dir, qz_artifact_note note, void *ctx);

int qz_artifact_open(qz_artifact **out, const char *dir, int force, qz_error *err);
/* tmp_dir/name into buf. */
int qz_artifact_path(const qz_artifact *a, const char *name, char *buf, size_t cap, qz_error *err);
/* Copies src_dir/name into the artifact when it exists (missing is fine). */
int qz_artifact_copy_if_present(qz_artifact *a, const char *src_dir, const char *name, qz_error *err);
/* Writes json (pretty-printed) as name. */
int qz_artifact_write_json(qz_artifact *a, const char *name, const cJSON *json, qz_error *err);
/* Appends one line of JSON to qz-log.jsonl. */
int qz_artifact_log(qz_artifact *a, const cJSON *line, qz_error *err);
/* Renames the temporary directory onto the target (replacing it when forced). */
int qz_artifact_commit(qz_artifact *a, qz_error *err);
void qz_artifact_free(qz_artifact *a);

#endif
