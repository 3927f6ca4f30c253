/* test_prune.c - mask selection (hand-worked, and against a stable sort),
 * then magnitude / Wanda / SparseGPT / structured pruning through the
 * pipeline and the exporter on the shared F32 model: exact counts per
 * matrix, row, M-group and model; Wanda's and the structured scores
 * recomputed here from the layer's activations; the shrunken model against
 * the masked full-size model; prune -> GPTQ keeping the zeros. */
#include <math.h>
#include <string.h>

#include "export.h"
#include "prune.h"
#include "select.h"
#include "tests/qz_test.h"
#include "tests/qz_test_model.h"

enum { NS = 8, T = 64 };

/* ------------------------------------------------------------------------- */
/* Selection                                                                  */

static void check_keep(const uint8_t *got, const uint8_t *want, int n, const char *what)
{
    for (int i = 0; i < n; i++) CHECK(got[i] == want[i], "%s: keep[%d] = %d, want %d", what, i, got[i], want[i]);
}

static void test_select_hand_worked(void)
{
    const float s[7] = {3, 1, 2, 1, 0, 5, 1};
    uint8_t keep[8];
    qz_select_smallest(s, 7, 3, keep); /* 0 (i4), then the 1s at i1, i3; i6 is a tie left kept */
    check_keep(keep, (const uint8_t[]){1, 0, 1, 0, 0, 1, 1}, 7, "k=3");
    qz_select_smallest(s, 7, 5, keep);
    check_keep(keep, (const uint8_t[]){1, 0, 0, 0, 0, 1, 0}, 7, "k=5");
    qz_select_smallest(s, 7, 0, keep);
    check_keep(keep, (const uint8_t[]){1, 1, 1, 1, 1, 1, 1}, 7, "k=0");
    qz_select_smallest(s, 7, 7, keep);
    check_keep(keep, (const uint8_t[]){0, 0, 0, 0, 0, 0, 0}, 7, "k=n");
    qz_select_smallest((const float[]){2, 2, 2, 2}, 4, 2, keep);
    check_keep(keep, (const uint8_t[]){0, 0, 1, 1}, 4, "all ties");
    const float g[8] = {0.5f, 0.1f, 0.3f, 0.1f, 4, 3, 3, 1};
    qz_select_nm(g, 8, 2, 4, keep);
    check_keep(keep, (const uint8_t[]){1, 0, 1, 0, 1, 0, 1, 0}, 8, "2:4");
    qz_select_nm(g, 8, 1, 4, keep);
    check_keep(keep, (const uint8_t[]){1, 0, 1, 1, 1, 1, 1, 0}, 8, "1:4");
}

typedef struct keyed {
    float s;
    int i;
} keyed;

static int keyed_cmp(const void *a, const void *b)
{
    const keyed *x = a, *y = b;
    if (x->s != y->s) return x->s < y->s ? -1 : 1;
    return x->i - y->i;
}

/* Against a full sort by (score, index), with many ties and wide ranges. */
static void test_select_matches_sort(void)
{
    enum { N = 1000 };
    float s[N];
    keyed k[N];
    uint8_t keep[N], want[N];
    uint64_t r = 12345;
    for (int trial = 0; trial < 6; trial++) {
        for (int i = 0; i < N; i++) {
            r = r * 6364136223846793005ULL + 1442695040888963407ULL;
            int v = (int)(r >> 58); /* 0..63: many ties */
            s[i] = trial % 2 ? (float)v : ldexpf((float)(v % 8), v / 8 - 20);
            k[i] = (keyed){s[i], i};
        }
        qsort(k, N, sizeof *k, keyed_cmp);
        int kk = trial * 170 + 3;
        memset(want, 1, N);
        for (int i = 0; i < kk; i++) want[k[i].i] = 0;
        qz_select_smallest(s, N, kk, keep);
        check_keep(keep, want, N, "random");
    }
}

/* ------------------------------------------------------------------------- */
/* Pipeline runs                                                              */

static qz_model *open_shared(qz_error *err)
{
    char src[512];
    snprintf(src, sizeof src, "%s/models/stories260K", qzt_shared());
    qz_model *m = NULL;
    return qz_model_open(&m, src, err) == 0 ? m : NULL;
}

static void calib_ids(int32_t *ids)
{
    for (int i = 0; i < NS * T; i++) ids[i] = 3 + (i * 7919) % 500;
}

/* Runs a pruner (po) or SparseGPT / GPTQ quantizer (qo) over m into dir. */
static int run_to(qz_model *m, const char *dir, const qz_prune_opts *po, const qz_quant_opts *qo, qz_export_format fmt,
                  const qz_gptq_config *gc, const cJSON *patch, qz_error *err)
{
    int32_t ids[NS * T];
    calib_ids(ids);
    qz_export *ex = NULL;
    qz_pruner *p = NULL;
    qz_quantizer *q = NULL;
    int rc = qz_export_open(&ex, m, dir, 1, err);
    qz_quant_sink sink = ex ? qz_export_sink(ex, fmt, gc, NULL, NULL) : (qz_quant_sink){0};
    if (rc == QZ_OK) rc = po ? qz_pruner_new(&p, &m->cfg, po, &sink, err) : qz_quantizer_new(&q, &m->cfg, qo, &sink, err);
    if (rc == QZ_OK) rc = qz_pipeline_run(m, ids, NS, T, p ? qz_pruner_method(p) : qz_quantizer_method(q), NULL, NULL, NULL, err);
    cJSON *qc = gc ? qz_gptq_config_json(gc, NULL, 0, NULL, 0) : NULL;
    if (rc == QZ_OK) rc = qz_export_finish(ex, qc, patch, err);
    cJSON_Delete(qc);
    qz_pruner_free(p);
    qz_quantizer_free(q);
    qz_export_free(ex);
    return rc;
}

static qz_prune_opts popts(qz_quant_method m, double s, int n, int mm, qz_prune_scope scope)
{
    return (qz_prune_opts){.method = m, .sparsity = s, .prune_n = n, .prune_m = mm, .scope = scope, .ffn_keep = 1.0};
}

static int64_t zeros(const float *w, int64_t n)
{
    int64_t z = 0;
    for (int64_t i = 0; i < n; i++) z += w[i] == 0.0f;
    return z;
}

/* Checks the zeros of every decoder linear of dir: floor(numel * s_matrix)
 * per matrix, floor(in * s_row) per row (< 0: not checked), and with mm > 0
 * n per group of mm (exactly, or at least n); *total = all zeros. */
static void check_counts(const char *dir, double s_matrix, double s_row, int n, int mm, int exact_groups, int64_t *total)
{
    qz_error err = {0};
    qz_model *m = NULL;
    *total = 0;
    CHECK(qz_model_open(&m, dir, &err) == 0, "%s", err.msg);
    for (int64_t l = 0; m && l < m->cfg.n_layers; l++) {
        qz_layer L;
        CHECK(qz_layer_load(m, l, &L, &err) == 0, "%s", err.msg);
        for (int id = 0; id < QZ_LIN_COUNT; id++) {
            const qz_linear *x = &L.lin[id];
            int64_t z = zeros(x->w, x->out * x->in);
            *total += z;
            if (s_matrix >= 0) CHECK(z == (int64_t)((double)(x->out * x->in) * s_matrix), "layer %lld %s: %lld zeros", (long long)l, qz_linear_name(id), (long long)z);
            for (int64_t r = 0; s_row >= 0 && r < x->out; r++)
                CHECK(zeros(x->w + r * x->in, x->in) == (int64_t)((double)x->in * s_row), "layer %lld %s row %lld", (long long)l, qz_linear_name(id), (long long)r);
            for (int64_t g = 0; mm && g < x->out * x->in; g += mm) {
                int64_t zg = zeros(x->w + g, mm);
                CHECK(exact_groups ? zg == n : zg >= n, "layer %lld %s group %lld: %lld zeros, want %d", (long long)l, qz_linear_name(id), (long long)g,
                      (long long)zg, n);
            }
        }
        qz_layer_free(&L);
    }
    qz_model_free(m);
}

static void test_magnitude_counts(void)
{
    qz_error err = {0};
    qz_model *m = open_shared(&err);
    if (!m) SKIP("%s (../shared absent?)", err.msg);
    char dir[256];
    qzt_tmpdir(dir, sizeof dir, "prune_mag");
    int64_t total;
    qz_prune_opts o = popts(QZ_QUANT_MAGNITUDE, 0.5, 0, 0, QZ_PRUNE_SCOPE_LAYER);
    CHECK(run_to(m, dir, &o, NULL, QZ_EXPORT_FP, NULL, NULL, &err) == 0, "%s", err.msg);
    check_counts(dir, 0.5, -1, 0, 0, 0, &total);
    o = popts(QZ_QUANT_MAGNITUDE, 0.3, 0, 0, QZ_PRUNE_SCOPE_ROW);
    CHECK(run_to(m, dir, &o, NULL, QZ_EXPORT_FP, NULL, NULL, &err) == 0, "%s", err.msg);
    check_counts(dir, -1, 0.3, 0, 0, 0, &total);
    o = popts(QZ_QUANT_MAGNITUDE, 0, 2, 4, QZ_PRUNE_SCOPE_LAYER);
    CHECK(run_to(m, dir, &o, NULL, QZ_EXPORT_FP, NULL, NULL, &err) == 0, "%s", err.msg);
    check_counts(dir, 0.5, 0.5, 2, 4, 1, &total);
    o = popts(QZ_QUANT_MAGNITUDE, 0, 1, 4, QZ_PRUNE_SCOPE_LAYER);
    CHECK(run_to(m, dir, &o, NULL, QZ_EXPORT_FP, NULL, NULL, &err) == 0, "%s", err.msg);
    check_counts(dir, 0.25, 0.25, 1, 4, 1, &total);
    o = popts(QZ_QUANT_MAGNITUDE, 0, 4, 8, QZ_PRUNE_SCOPE_LAYER); /* down_proj has in 172 */
    CHECK(qz_prune_check(&o, &m->cfg, &err) == QZ_EINPUT && strstr(err.msg, "does not divide in_features 172 of mlp.down_proj"), "%s", err.msg);
    qz_model_free(m);
    qzt_rmdir(dir);
}

/* Scope global: exactly k zeros over the model, and every pruned |w| <= every kept |w|. */
static void test_magnitude_global(void)
{
    qz_error err = {0};
    qz_model *m = open_shared(&err), *p = NULL;
    if (!m) SKIP("%s (../shared absent?)", err.msg);
    char dir[256];
    qzt_tmpdir(dir, sizeof dir, "prune_glob");
    qz_prune_opts o = popts(QZ_QUANT_MAGNITUDE, 0.6, 0, 0, QZ_PRUNE_SCOPE_GLOBAL);
    CHECK(qz_prune_global_threshold(m, o.sparsity, &o.global, &err) == 0, "%s", err.msg);
    CHECK(run_to(m, dir, &o, NULL, QZ_EXPORT_FP, NULL, NULL, &err) == 0, "%s", err.msg);
    int64_t total, n = 0;
    check_counts(dir, -1, -1, 0, 0, 0, &total);
    double max_pruned = 0, min_kept = INFINITY, per_layer_min = 1, per_layer_max = 0;
    CHECK(qz_model_open(&p, dir, &err) == 0, "%s", err.msg);
    for (int64_t l = 0; p && l < m->cfg.n_layers; l++) {
        qz_layer A, B;
        CHECK(qz_layer_load(m, l, &A, &err) == 0 && qz_layer_load(p, l, &B, &err) == 0, "%s", err.msg);
        for (int id = 0; id < QZ_LIN_COUNT; id++) {
            int64_t k = A.lin[id].out * A.lin[id].in, z = zeros(B.lin[id].w, k);
            n += k;
            per_layer_min = fmin(per_layer_min, (double)z / (double)k);
            per_layer_max = fmax(per_layer_max, (double)z / (double)k);
            for (int64_t i = 0; i < k; i++) {
                double a = fabs(A.lin[id].w[i]);
                if (B.lin[id].w[i] == 0.0f) max_pruned = fmax(max_pruned, a);
                else {
                    min_kept = fmin(min_kept, a);
                    CHECK(B.lin[id].w[i] == A.lin[id].w[i], "kept weight changed");
                }
            }
        }
        qz_layer_free(&A);
        qz_layer_free(&B);
    }
    CHECK(total == (int64_t)((double)n * 0.6) && total == o.global.k, "%lld zeros of %lld", (long long)total, (long long)n);
    CHECK(max_pruned <= min_kept, "pruned %g > kept %g", max_pruned, min_kept);
    CHECK(per_layer_max - per_layer_min > 0.05, "global scope pruned every module alike (%g..%g)", per_layer_min, per_layer_max);
    printf("  global 60%%: module sparsity %.3f..%.3f, threshold |w| %.4g\n", per_layer_min, per_layer_max, max_pruned);
    qz_model_free(p);
    qz_model_free(m);
    qzt_rmdir(dir);
}

/* Sum of x^2 per input column of every site of layer 0 over the calibration windows. */
typedef struct sums {
    double s[QZ_SITE_COUNT][256];
} sums;

static void sum_squares(void *ctx, const qz_layer *L, qz_site site, const float *x, int64_t n)
{
    (void)L;
    sums *s = ctx;
    int64_t d = site == QZ_SITE_DOWN_IN ? 172 : 64;
    for (int64_t t = 0; t < n; t++)
        for (int64_t j = 0; j < d; j++) s->s[site][j] += (double)x[t * d + j] * x[t * d + j];
}

/* Runs layer 0 of m over the calibration windows with an observer. */
static void layer0_observe(qz_model *m, qz_layer *L, const qz_observer *obs)
{
    int32_t ids[NS * T];
    calib_ids(ids);
    qz_error err = {0};
    qz_scratch *s = NULL;
    float *x = malloc(sizeof(float) * T * m->cfg.hidden);
    CHECK(qz_model_reserve(m, T, &err) == 0 && qz_scratch_new(&s, &m->cfg, T, &err) == 0, "%s", err.msg);
    for (int w = 0; w < NS; w++) {
        qz_model_embed(m, ids + w * T, T, x);
        qz_layer_forward(m, L, x, 1, T, s, obs);
    }
    qz_scratch_free(s);
    free(x);
}

/* Wanda 50% per row on layer 0: the zeros are exactly the int(in/2)
 * smallest |W_ij| * ||X_j|| per row, the metric computed here. */
static void test_wanda_metric(void)
{
    qz_error err = {0};
    qz_model *m = open_shared(&err), *p = NULL;
    if (!m) SKIP("%s (../shared absent?)", err.msg);
    char dir[256];
    qzt_tmpdir(dir, sizeof dir, "prune_wanda");
    qz_prune_opts o = popts(QZ_QUANT_WANDA, 0.5, 0, 0, QZ_PRUNE_SCOPE_ROW);
    CHECK(run_to(m, dir, &o, NULL, QZ_EXPORT_FP, NULL, NULL, &err) == 0, "%s", err.msg);
    int64_t total;
    check_counts(dir, 0.5, 0.5, 0, 0, 0, &total);
    qz_prune_opts o24 = popts(QZ_QUANT_WANDA, 0, 2, 4, QZ_PRUNE_SCOPE_ROW), o30 = popts(QZ_QUANT_WANDA, 0.3, 0, 0, QZ_PRUNE_SCOPE_LAYER);
    char d24[300];
    snprintf(d24, sizeof d24, "%s-24", dir);
    CHECK(run_to(m, d24, &o24, NULL, QZ_EXPORT_FP, NULL, NULL, &err) == 0, "%s", err.msg);
    check_counts(d24, 0.5, 0.5, 2, 4, 1, &total);
    CHECK(run_to(m, d24, &o30, NULL, QZ_EXPORT_FP, NULL, NULL, &err) == 0, "%s", err.msg);
    check_counts(d24, 0.3, -1, 0, 0, 0, &total);
    qzt_rmdir(d24);
    qz_layer A, B;
    static sums ss;
    memset(&ss, 0, sizeof ss);
    qz_observer obs = {sum_squares, &ss};
    CHECK(qz_layer_load(m, 0, &A, &err) == 0 && qz_model_open(&p, dir, &err) == 0 && qz_layer_load(p, 0, &B, &err) == 0, "%s", err.msg);
    layer0_observe(m, &A, &obs);
    int64_t mismatches = 0;
    for (int id = 0; p && id < QZ_LIN_COUNT; id++) {
        const qz_linear *a = &A.lin[id];
        const double *norm = ss.s[qz_linear_site(id)];
        keyed k[256];
        for (int64_t r = 0; r < a->out; r++) {
            for (int64_t j = 0; j < a->in; j++) k[j] = (keyed){(float)(fabs(a->w[r * a->in + j]) * sqrt(norm[j])), (int)j};
            qsort(k, (size_t)a->in, sizeof *k, keyed_cmp);
            for (int64_t t = 0; t < a->in; t++) mismatches += (B.lin[id].w[r * a->in + k[t].i] == 0.0f) != (t < a->in / 2);
        }
    }
    CHECK(mismatches == 0, "%lld mask entries differ from the recomputed Wanda metric", (long long)mismatches);
    qz_layer_free(&A);
    qz_layer_free(&B);
    qz_model_free(p);
    qz_model_free(m);
    qzt_rmdir(dir);
}

/* SparseGPT 2:4 alone (exact groups) and with joint 4-bit GPTQ (pruned stay 0),
 * then GPTQ --keep-sparsity on the pruned model keeps every zero. */
static void test_sparsegpt_and_keep_sparsity(void)
{
    qz_error err = {0};
    qz_model *m = open_shared(&err), *p = NULL, *g = NULL;
    if (!m) SKIP("%s (../shared absent?)", err.msg);
    char dir[256], qdir[300], kdir[300];
    qzt_tmpdir(dir, sizeof dir, "prune_sgpt");
    snprintf(qdir, sizeof qdir, "%s-q", dir);
    snprintf(kdir, sizeof kdir, "%s-k", dir);
    qz_quant_opts qo = {.method = QZ_QUANT_SPARSEGPT, .sparsegpt = qz_sparsegpt_opts_default()};
    qo.sparsegpt.prune_n = 2, qo.sparsegpt.prune_m = 4;
    int64_t total;
    qz_quant_opts q50 = {.method = QZ_QUANT_SPARSEGPT, .sparsegpt = qz_sparsegpt_opts_default()}; /* 50% per 128-column block */
    CHECK(run_to(m, dir, NULL, &q50, QZ_EXPORT_FP, NULL, NULL, &err) == 0, "%s", err.msg);
    check_counts(dir, 0.5, -1, 0, 0, 0, &total); /* in 64 and 172 = 128 + 44: half of every block is half of the matrix */
    CHECK(run_to(m, dir, NULL, &qo, QZ_EXPORT_FP, NULL, NULL, &err) == 0, "%s", err.msg);
    check_counts(dir, 0.5, 0.5, 2, 4, 1, &total);
    /* joint: q/k/v/o packed at 4 bits (gate/up/down cannot be: 172), all pruned 2:4 */
    qo.sparsegpt.gptq.bits = 4, qo.sparsegpt.gptq.group_size = 32, qo.sparsegpt.gptq.sym = 1;
    for (int id = QZ_LIN_GATE; id <= QZ_LIN_DOWN; id++) qo.skip[id] = 1;
    qz_gptq_config gc = {4, 32, 1, 0, 0, 0, 0.01, QZ_GPTQ_ZERO_V1};
    CHECK(run_to(m, qdir, NULL, &qo, QZ_EXPORT_GPTQ, &gc, NULL, &err) == 0, "%s", err.msg);
    check_counts(qdir, -1, -1, 2, 4, 0, &total);
    /* keep-sparsity: GPTQ on the 2:4 model */
    qz_quant_opts ko = {.method = QZ_QUANT_GPTQ, .gptq = qz_gptq_opts_default(), .keep_sparsity = 1};
    ko.gptq.bits = 4, ko.gptq.group_size = 32, ko.gptq.sym = 1;
    memcpy(ko.skip, qo.skip, sizeof ko.skip);
    CHECK(qz_model_open(&p, dir, &err) == 0, "%s", err.msg);
    if (p) CHECK(run_to(p, kdir, NULL, &ko, QZ_EXPORT_GPTQ, &gc, NULL, &err) == 0, "%s", err.msg);
    CHECK(qz_model_open(&g, kdir, &err) == 0, "%s", err.msg);
    int64_t lost = 0;
    for (int64_t l = 0; g && l < m->cfg.n_layers; l++) {
        qz_layer A, B;
        CHECK(qz_layer_load(p, l, &A, &err) == 0 && qz_layer_load(g, l, &B, &err) == 0, "%s", err.msg);
        for (int id = 0; id < QZ_LIN_COUNT; id++)
            for (int64_t i = 0; i < A.lin[id].out * A.lin[id].in; i++) lost += A.lin[id].w[i] == 0.0f && B.lin[id].w[i] != 0.0f;
        qz_layer_free(&A);
        qz_layer_free(&B);
    }
    CHECK(lost == 0, "%lld pruned weights became nonzero under GPTQ --keep-sparsity", (long long)lost);
    check_counts(kdir, -1, -1, 2, 4, 0, &total);
    qz_model_free(g);
    qz_model_free(p);
    qz_model_free(m);
    qzt_rmdir(dir), qzt_rmdir(qdir), qzt_rmdir(kdir);
}

/* ------------------------------------------------------------------------- */
/* Structured                                                                 */

/* Layer 0's head and channel energies, computed directly: E_h = sum_t
 * ||W_o[:, h] x_t,h||^2 and E_j = sum_t ||W_down[:, j] x_tj||^2. */
typedef struct energies {
    const qz_layer *L;
    double head[8], ch[172];
} energies;

static void energy_obs(void *ctx, const qz_layer *L, qz_site site, const float *x, int64_t n)
{
    energies *e = ctx;
    (void)L;
    const qz_linear *o = &e->L->lin[QZ_LIN_O], *d = &e->L->lin[QZ_LIN_DOWN];
    for (int64_t t = 0; t < n; t++) {
        if (site == QZ_SITE_O_IN)
            for (int h = 0; h < 8; h++)
                for (int r = 0; r < 64; r++) {
                    double y = 0;
                    for (int a = 0; a < 8; a++) y += (double)o->w[r * 64 + h * 8 + a] * x[t * 64 + h * 8 + a];
                    e->head[h] += y * y;
                }
        if (site == QZ_SITE_DOWN_IN)
            for (int j = 0; j < 172; j++)
                for (int r = 0; r < 64; r++) e->ch[j] += pow((double)d->w[r * 172 + j] * x[t * 172 + j], 2);
    }
}

/* The original row index of each row of small (rows of `unit` floats), by exact match. */
static int match_rows(const float *small, int64_t n_small, const float *full, int64_t n_full, int64_t unit, int64_t *idx)
{
    for (int64_t k = 0; k < n_small; k++) {
        idx[k] = -1;
        for (int64_t r = 0; r < n_full && idx[k] < 0; r++)
            if (!memcmp(small + k * unit, full + r * unit, (size_t)unit * sizeof(float))) idx[k] = r;
        if (idx[k] < 0) return -1;
    }
    return 0;
}

/* A method zeroing what the shrunken model dropped: kv[l][g] / ch[l][j] == 0. */
typedef struct masker {
    uint8_t kv[5][4], ch[5][172];
    qz_quant_sink sink;
} masker;

static int mask_transform(void *ctx, qz_layer *L, const qz_linear_id *ids, int n, qz_error *err)
{
    (void)ids, (void)n, (void)err;
    masker *mk = ctx;
    for (int g = 0; g < 4; g++)
        if (!mk->kv[L->index][g]) {
            memset(L->lin[QZ_LIN_K].w + g * 8 * 64, 0, sizeof(float) * 8 * 64);
            memset(L->lin[QZ_LIN_V].w + g * 8 * 64, 0, sizeof(float) * 8 * 64);
            memset(L->lin[QZ_LIN_Q].w + g * 16 * 64, 0, sizeof(float) * 16 * 64);
            for (int r = 0; r < 64; r++) memset(L->lin[QZ_LIN_O].w + r * 64 + g * 16, 0, sizeof(float) * 16);
        }
    for (int j = 0; j < 172; j++)
        if (!mk->ch[L->index][j]) {
            memset(L->lin[QZ_LIN_GATE].w + j * 64, 0, sizeof(float) * 64);
            memset(L->lin[QZ_LIN_UP].w + j * 64, 0, sizeof(float) * 64);
            for (int r = 0; r < 64; r++) L->lin[QZ_LIN_DOWN].w[r * 172 + j] = 0;
        }
    return QZ_OK;
}

static int mask_end(void *ctx, const qz_model *m, const qz_layer *L, qz_error *err)
{
    (void)m;
    masker *mk = ctx;
    const qz_quant_result *none[QZ_LIN_COUNT] = {0};
    qz_module_report rep[QZ_LIN_COUNT] = {0};
    return mk->sink.write_layer(mk->sink.ctx, L, none, rep, err);
}

/* Heads 6 of 8 (3 of 4 KV groups) and 75% of the FFN: config and shapes,
 * layer 0's choice against the energies computed here, and the shrunken
 * model's logits against the masked full-size model's. */
static void test_structured(void)
{
    qz_error err = {0};
    qz_model *m = open_shared(&err), *s = NULL, *b = NULL;
    if (!m) SKIP("%s (../shared absent?)", err.msg);
    char dir[256], mdir[300];
    qzt_tmpdir(dir, sizeof dir, "prune_struct");
    snprintf(mdir, sizeof mdir, "%s-masked", dir);
    qz_prune_opts o = popts(QZ_QUANT_STRUCTURED, 0, 0, 0, QZ_PRUNE_SCOPE_LAYER);
    o.keep_heads = 6, o.ffn_keep = 0.75;
    cJSON *patch = qz_prune_config_patch(&o, &m->cfg);
    CHECK(run_to(m, dir, &o, NULL, QZ_EXPORT_FP, NULL, patch, &err) == 0, "%s", err.msg);
    cJSON_Delete(patch);
    CHECK(qz_model_open(&s, dir, &err) == 0, "%s", err.msg);
    if (!s) goto done;
    CHECK(s->cfg.n_heads == 6 && s->cfg.n_kv_heads == 3 && s->cfg.head_dim == 8 && s->cfg.intermediate == 129 && s->cfg.hidden == 64,
          "config: heads %lld kv %lld hd %lld ffn %lld", (long long)s->cfg.n_heads, (long long)s->cfg.n_kv_heads, (long long)s->cfg.head_dim,
          (long long)s->cfg.intermediate);
    static masker mk;
    memset(&mk, 0, sizeof mk);
    for (int64_t l = 0; l < 5; l++) {
        qz_layer A, S;
        CHECK(qz_layer_load(m, l, &A, &err) == 0 && qz_layer_load(s, l, &S, &err) == 0, "%s", err.msg);
        int64_t kv[3], ch[129];
        CHECK(match_rows(S.lin[QZ_LIN_K].w, 3, A.lin[QZ_LIN_K].w, 4, 8 * 64, kv) == 0, "layer %lld: k rows not found", (long long)l);
        CHECK(match_rows(S.lin[QZ_LIN_GATE].w, 129, A.lin[QZ_LIN_GATE].w, 172, 64, ch) == 0, "layer %lld: gate rows not found", (long long)l);
        for (int k = 0; k < 3; k++) mk.kv[l][kv[k]] = 1;
        for (int k = 0; k < 129; k++) mk.ch[l][ch[k]] = 1;
        if (l == 0) {
            static energies e;
            memset(&e, 0, sizeof e);
            e.L = &A;
            qz_observer obs = {energy_obs, &e};
            layer0_observe(m, &A, &obs);
            double worst_kv = INFINITY, best_dropped_ch = 0, worst_kept_ch = INFINITY;
            int drop_kv = -1;
            for (int g = 0; g < 4; g++)
                if (e.head[2 * g] + e.head[2 * g + 1] < worst_kv) worst_kv = e.head[2 * g] + e.head[2 * g + 1], drop_kv = g;
            CHECK(!mk.kv[0][drop_kv], "layer 0 kept KV group %d, the lowest-energy one", drop_kv);
            for (int j = 0; j < 172; j++) {
                if (mk.ch[0][j]) worst_kept_ch = fmin(worst_kept_ch, e.ch[j]);
                else best_dropped_ch = fmax(best_dropped_ch, e.ch[j]);
            }
            CHECK(best_dropped_ch <= worst_kept_ch * (1 + 1e-5), "a dropped channel (%g) beats a kept one (%g)", best_dropped_ch, worst_kept_ch);
            printf("  layer 0: dropped KV group %d (energy %.4g), channel energy cut %.4g\n", drop_kv, worst_kv, worst_kept_ch);
        }
        qz_layer_free(&A);
        qz_layer_free(&S);
    }
    qz_export *ex = NULL;
    CHECK(qz_export_open(&ex, m, mdir, 1, &err) == 0, "%s", err.msg);
    mk.sink = qz_export_sink(ex, QZ_EXPORT_FP, NULL, NULL, NULL);
    qz_method meth = {.ctx = &mk, .transform = mask_transform, .layer_end = mask_end};
    int32_t ids[NS * T];
    calib_ids(ids);
    CHECK(qz_pipeline_run(m, ids, 1, T, &meth, NULL, NULL, NULL, &err) == 0 && qz_export_finish(ex, NULL, NULL, &err) == 0, "%s", err.msg);
    qz_export_free(ex);
    CHECK(qz_model_open(&b, mdir, &err) == 0, "%s", err.msg);
    if (b) {
        double scale = 0, worst = qzt_max_logit_diff(s, b, ids, T, &scale);
        printf("  shrunken vs masked full-size: max |logit difference| %.3g (max |logit| %.3g)\n", worst, scale);
        CHECK(worst >= 0 && worst < 1e-5 * scale, "logits differ by %g", worst);
    }
done:
    qz_model_free(b);
    qz_model_free(s);
    qz_model_free(m);
    qzt_rmdir(dir), qzt_rmdir(mdir);
}

static void test_bad_options(void)
{
    qz_model_config c = {.hidden = 64, .intermediate = 172, .n_layers = 1, .n_heads = 8, .n_kv_heads = 4, .head_dim = 8, .vocab = 512};
    qz_error err = {0};
    struct {
        qz_prune_opts o;
        const char *msg;
    } bad[] = {
        {popts(QZ_QUANT_MAGNITUDE, 1.0, 0, 0, QZ_PRUNE_SCOPE_LAYER), "must be in [0, 1)"},
        {popts(QZ_QUANT_WANDA, 0.5, 0, 0, QZ_PRUNE_SCOPE_GLOBAL), "only for magnitude"},
        {popts(QZ_QUANT_WANDA, 0.5, 4, 4, QZ_PRUNE_SCOPE_ROW), "need 0 < N < M"},
        {popts(QZ_QUANT_SPARSEGPT, 0.5, 3, 8, QZ_PRUNE_SCOPE_ROW), "does not divide in_features 172"},
        {{.method = QZ_QUANT_STRUCTURED, .keep_heads = 10, .ffn_keep = 1}, "has 8 attention heads"},
        {{.method = QZ_QUANT_STRUCTURED, .keep_heads = 5, .ffn_keep = 1}, "multiple of 2"},
        {{.method = QZ_QUANT_STRUCTURED, .keep_heads = 8, .ffn_keep = 0.001}, "at least one of 172"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        err.msg[0] = 0;
        CHECK(qz_prune_check(&bad[i].o, &c, &err) == QZ_EINPUT && strstr(err.msg, bad[i].msg), "case %zu: '%s'", i, err.msg);
    }
    qz_prune_opts ok = {.method = QZ_QUANT_STRUCTURED, .keep_heads = 6, .ffn_keep = 0.75};
    CHECK(qz_prune_check(&ok, &c, &err) == QZ_OK, "%s", err.msg);
}

int main(void)
{
    QZ_RUN(test_select_hand_worked);
    QZ_RUN(test_select_matches_sort);
    QZ_RUN(test_bad_options);
    QZ_RUN(test_magnitude_counts);
    QZ_RUN(test_magnitude_global);
    QZ_RUN(test_wanda_metric);
    QZ_RUN(test_sparsegpt_and_keep_sparsity);
    QZ_RUN(test_structured);
    QZ_TEST_EXIT();
}
