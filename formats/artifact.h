/* artifact.h - an output model directory written atomically.
 *
 * Everything is written into a temporary directory beside the target
 * ("<out>.qz-tmp-<pid>") and renamed onto the target by qz_artifact_commit;
 * qz_artifact_free without a commit removes the temporary directory, so a
 * failure or a crash never leaves a half artifact under the target's name.
 * An existing target is refused unless force is set; the target is never an
 * input directory (checked by the caller through qz_artifact_same_dir).
 * Missing parents of the target are created first, as `mkdir -p` would.
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

/* 1 when a and b name the same existing directory. */
int qz_artifact_same_dir(const char *a, const char *b);

#endif
