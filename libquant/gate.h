/* gate.h - qz-eval's quality gate: thresholds on a comparison (compare.h)
 * from flags or a JSON gate file, and the verdict, check by check.
 *
 * Gate file (README "qz-eval as a CI gate"): one JSON object whose keys are
 * thresholds (defaults for every model), "gate_ci", "description", and
 * optionally "models": {NAME: {thresholds, "gate_ci", "description"}}. With
 * "models", the entry for the selected model must exist; its keys override
 * the top level. Unknown keys, values of the wrong type or out of range, and
 * a selection that sets no threshold are input errors.
 */
#ifndef QZ_GATE_H
#define QZ_GATE_H

#include "compare.h"

typedef enum qz_gate_metric {
    QZ_GATE_PPL_RATIO = 0, /* max_ppl_ratio: ppl_ratio <= threshold (> 0) */
    QZ_GATE_PPL_DELTA = 1, /* max_ppl_delta: ppl_delta <= threshold */
    QZ_GATE_KLD = 2,       /* max_kld: kld_mean <= threshold (>= 0) */
    QZ_GATE_TOP1 = 3,      /* min_top1: top1_agreement >= threshold (in [0, 1]) */
    QZ_GATE_COUNT
} qz_gate_metric;

const char *qz_gate_metric_name(qz_gate_metric m); /* "ppl_ratio", "ppl_delta", "kld_mean", "top1_agreement" */
const char *qz_gate_key(qz_gate_metric m);         /* "max_ppl_ratio", "max_ppl_delta", "max_kld", "min_top1" */

typedef struct qz_gate {
    int set[QZ_GATE_COUNT];
    double threshold[QZ_GATE_COUNT];
    int ci;     /* a threshold fails only when the whole 95% CI lies beyond it */
    int ci_set;
} qz_gate;

/* Sets threshold m after checking its range; where names the source in the
 * message ("--max-kld", "gate.json: models.w4"). */
int qz_gate_set(qz_gate *g, qz_gate_metric m, double v, const char *where, qz_error *err);
int qz_gate_count(const qz_gate *g);

/* Adds the thresholds of gate file path for model to g; what g already sets
 * (the command-line flags) wins. */
int qz_gate_load(qz_gate *g, const char *path, const char *model, qz_error *err);

typedef struct qz_gate_check {
    qz_gate_metric metric;
    double value, threshold;
    double ci[2];  /* value's 95% CI, NaN when there is none */
    int used_ci;   /* the verdict compared the CI's near end, not the value */
    double by;     /* distance beyond the threshold of what was compared (> 0: failed) */
    int passed;
} qz_gate_check;

/* One check per threshold set, in metric order, into checks; returns their
 * count; *passed = all passed. With g->ci and no CI (one window) a check
 * falls back to the value. */
int qz_gate_eval(const qz_gate *g, const qz_cmp_result *r, qz_gate_check checks[QZ_GATE_COUNT], int *passed);

#endif
