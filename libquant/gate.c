/* gate.c - quality-gate thresholds and verdicts (see gate.h); the gate
 * file is parsed with cJSON. */
#include "gate.h"

#include "hf_model.h"

#include <math.h>
#include <string.h>

static const struct {
    const char *name, *key;
    int is_max;     /* value <= threshold passes; else value >= threshold */
    double lo, hi;  /* allowed thresholds */
} METRICS[QZ_GATE_COUNT] = {
    [QZ_GATE_PPL_RATIO] = {"ppl_ratio", "max_ppl_ratio", 1, 1e-300, 1e300},
    [QZ_GATE_PPL_DELTA] = {"ppl_delta", "max_ppl_delta", 1, -1e300, 1e300},
    [QZ_GATE_KLD] = {"kld_mean", "max_kld", 1, 0, 1e300},
    [QZ_GATE_TOP1] = {"top1_agreement", "min_top1", 0, 0, 1},
};

const char *qz_gate_metric_name(qz_gate_metric m) { return METRICS[m].name; }
const char *qz_gate_key(qz_gate_metric m) { return METRICS[m].key; }

int qz_gate_set(qz_gate *g, qz_gate_metric m, double v, const char *where, qz_error *err)
{
    if (!(v >= METRICS[m].lo && v <= METRICS[m].hi))
        return qz_fail(err, QZ_EINPUT, "%s: %s %g out of range (%s)", where, METRICS[m].key, v,
                       m == QZ_GATE_PPL_RATIO ? "must be > 0" : m == QZ_GATE_TOP1 ? "must be in [0, 1]" : m == QZ_GATE_KLD ? "must be >= 0" : "must be finite");
    g->set[m] = 1;
    g->threshold[m] = v;
    return QZ_OK;
}

int qz_gate_count(const qz_gate *g)
{
    int n = 0;
    for (int m = 0; m < QZ_GATE_COUNT; m++) n += g->set[m];
    return n;
}

/* ------------------------------------------------------------ gate file */

static int key_metric(const char *key)
{
    for (int m = 0; m < QZ_GATE_COUNT; m++)
        if (!strcmp(key, METRICS[m].key)) return m;
    return -1;
}

/* The thresholds of one object (the top level or a models entry) into g. */
static int parse_entry(const cJSON *obj, const char *where, int top, qz_gate *g, qz_error *err)
{
    for (const cJSON *e = obj->child; e; e = e->next) {
        int m = key_metric(e->string);
        if (m >= 0 && !cJSON_IsNumber(e)) return qz_fail(err, QZ_EINPUT, "%s: '%s' must be a number", where, e->string);
        if (m >= 0) {
            int rc = qz_gate_set(g, (qz_gate_metric)m, e->valuedouble, where, err);
            if (rc) return rc;
        } else if (!strcmp(e->string, "gate_ci")) {
            if (!cJSON_IsBool(e)) return qz_fail(err, QZ_EINPUT, "%s: 'gate_ci' must be true or false", where);
            g->ci = cJSON_IsTrue(e), g->ci_set = 1;
        } else if (!strcmp(e->string, "description")) {
            if (!cJSON_IsString(e)) return qz_fail(err, QZ_EINPUT, "%s: 'description' must be a string", where);
        } else if (!(top && !strcmp(e->string, "models"))) {
            return qz_fail(err, QZ_EINPUT, "%s: unknown key '%s' (known: max_ppl_ratio, max_ppl_delta, max_kld, min_top1, "
                           "gate_ci, description%s)", where, e->string, top ? ", models" : "");
        }
    }
    return QZ_OK;
}

/* Checks every entry of "models"; the one named model goes into g. */
static int parse_models(const cJSON *models, const char *path, const char *model, qz_gate *g, qz_error *err)
{
    if (!cJSON_IsObject(models)) return qz_fail(err, QZ_EINPUT, "%s: 'models' must be an object of NAME: {thresholds}", path);
    int found = 0, rc = QZ_OK;
    char where[4400], names[512] = "";
    for (const cJSON *e = models->child; e && rc == QZ_OK; e = e->next) {
        snprintf(where, sizeof where, "%s: models.%s", path, e->string);
        qz_gate scratch = *g;
        int mine = !strcmp(e->string, model);
        if (!cJSON_IsObject(e)) rc = qz_fail(err, QZ_EINPUT, "%s must be an object of thresholds", where);
        else rc = parse_entry(e, where, 0, mine ? g : &scratch, err);
        found |= mine;
        size_t len = strlen(names);
        if (len + strlen(e->string) + 3 < sizeof names) snprintf(names + len, sizeof names - len, "%s%s", len ? ", " : "", e->string);
    }
    if (rc == QZ_OK && !found)
        rc = qz_fail(err, QZ_EINPUT, "%s: no entry for model '%s' in \"models\" (entries: %s); choose one with --gate-model", path,
                     model, *names ? names : "none");
    return rc;
}

int qz_gate_load(qz_gate *g, const char *path, const char *model, qz_error *err)
{
    char *text = NULL;
    int rc = qz_read_file(path, &text, NULL, err);
    if (rc) return rc;
    cJSON *root = cJSON_Parse(text);
    free(text);
    qz_gate f = {{0}, {0}, 0, 0};
    if (!cJSON_IsObject(root)) rc = qz_fail(err, QZ_EINPUT, "%s: not a JSON object (gate file: {\"max_kld\": 0.05, ...})", path);
    if (rc == QZ_OK) rc = parse_entry(root, path, 1, &f, err);
    const cJSON *models = root ? cJSON_GetObjectItemCaseSensitive(root, "models") : NULL;
    if (rc == QZ_OK && models) rc = parse_models(models, path, model, &f, err);
    if (rc == QZ_OK && qz_gate_count(&f) == 0) rc = qz_fail(err, QZ_EINPUT, "%s: sets no threshold for model '%s'", path, model);
    cJSON_Delete(root);
    if (rc) return rc;
    for (int m = 0; m < QZ_GATE_COUNT; m++)
        if (!g->set[m] && f.set[m]) g->set[m] = 1, g->threshold[m] = f.threshold[m];
    if (!g->ci_set && f.ci_set) g->ci = f.ci, g->ci_set = 1;
    return QZ_OK;
}

/* --------------------------------------------------------------- verdict */

static void metric_value(const qz_cmp_result *r, qz_gate_metric m, double *v, double ci[2])
{
    const double *c = NULL;
    switch (m) {
    case QZ_GATE_PPL_RATIO: *v = r->ppl_ratio, c = r->ppl_ratio_ci; break;
    case QZ_GATE_PPL_DELTA: *v = r->ppl_delta, c = r->ppl_delta_ci; break;
    case QZ_GATE_KLD: *v = r->kld_mean, c = r->kld_mean_ci; break;
    case QZ_GATE_TOP1: *v = r->top1, c = r->top1_ci; break;
    case QZ_GATE_COUNT: QZ_ASSERT(0);
    }
    ci[0] = c[0], ci[1] = c[1];
}

int qz_gate_eval(const qz_gate *g, const qz_cmp_result *r, qz_gate_check checks[QZ_GATE_COUNT], int *passed)
{
    int n = 0;
    *passed = 1;
    for (int m = 0; m < QZ_GATE_COUNT; m++) {
        if (!g->set[m]) continue;
        qz_gate_check *c = &checks[n++];
        c->metric = (qz_gate_metric)m;
        c->threshold = g->threshold[m];
        metric_value(r, c->metric, &c->value, c->ci);
        c->used_ci = g->ci && !isnan(c->ci[0]);
        /* the CI end nearest the threshold's passing side: all of the CI must be beyond it to fail */
        double x = !c->used_ci ? c->value : METRICS[m].is_max ? c->ci[0] : c->ci[1];
        c->by = METRICS[m].is_max ? x - c->threshold : c->threshold - x;
        c->passed = !(c->by > 0) && !isnan(x);
        *passed &= c->passed;
    }
    return n;
}
