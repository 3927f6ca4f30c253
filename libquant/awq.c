/* awq.c - AWQ scale search, folding, clip search and quantizer over the
 * pipeline (see awq.h; FORMATS-AND-ALGORITHMS.md 3a-3d). */
#include "awq.h"

#include "ggml_grid.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

qz_awq_opts qz_awq_opts_default(void)
{
    return (qz_awq_opts){.bits = 4, .group_size = 128, .zero_point = 1, .n_grid = 20, .duo_scaling = 1, .clip = 1,
                         .sequential = 0, .quantize = 1};
}

/* ---------------------------------------------------------------- quantizer */

/* One group w[0, n) in place; code/scale/zero out when code != NULL. */
static void quant_group(float *w, int64_t n, int bits, int zero_point, uint8_t *code, float *scale, int32_t *zero)
{
    float mx = w[0], mn = w[0];
    for (int64_t i = 1; i < n; i++) {
        mx = w[i] > mx ? w[i] : mx;
        mn = w[i] < mn ? w[i] : mn;
    }
    float s, z, lo, hi;
    if (zero_point) {
        float maxq = (float)((1 << bits) - 1);
        s = (mx - mn > 1e-5f ? mx - mn : 1e-5f) / maxq;
        z = -nearbyintf(mn / s);
        z = z < 0 ? 0 : z > maxq ? maxq : z;
        lo = 0, hi = maxq;
    } else {
        float amax = fmaxf(fabsf(mx), fabsf(mn)), qmax = (float)((1 << (bits - 1)) - 1);
        s = (amax > 1e-5f ? amax : 1e-5f) / qmax;
        z = 0, lo = -qmax - 1, hi = qmax;
    }
    for (int64_t i = 0; i < n; i++) {
        float q = nearbyintf(w[i] / s) + z;
        q = q < lo ? lo : q > hi ? hi : q;
        w[i] = (q - z) * s;
        if (code) code[i] = (uint8_t)(zero_point ? q : q + (float)(1 << (bits - 1)));
    }
    if (code) {
        *scale = s;
        *zero = zero_point ? (int32_t)z : 1 << (bits - 1);
    }
}

static int64_t group_cols(int64_t group_size, int64_t cols)
{
    return group_size > 0 && group_size < cols ? group_size : cols;
}

int qz_awq_fake_quant(float *W, int64_t rows, int64_t cols, int64_t group_size, int bits, int zero_point,
                      qz_quant_result *res, qz_error *err)
{
    if (bits < 2 || bits > 8) return qz_fail(err, QZ_EINPUT, "awq: bits %d outside [2, 8]", bits);
    int64_t gs = group_cols(group_size, cols), ng = (cols + gs - 1) / gs;
    if (res) {
        int rc = qz_quant_result_alloc(res, rows, cols, gs, err);
        if (rc) return rc;
    }
    for (int64_t r = 0; r < rows; r++)
        for (int64_t g = 0; g < ng; g++) {
            int64_t c0 = g * gs, n = c0 + gs <= cols ? gs : cols - c0;
            quant_group(W + r * cols + c0, n, bits, zero_point, res ? res->codes + r * cols + c0 : NULL,
                        res ? res->scales + g * rows + r : NULL, res ? res->zeros + g * rows + r : NULL);
        }
    return QZ_OK;
}

/* W in place onto a linear's grid: ggml type gt (>= 0, ggml_grid.h: round
 * to nearest on its blocks, parameters weighted by the cols importances qw
 * unless NULL) or AWQ's own (gt < 0). */
static int fake_quant(float *W, int64_t rows, int64_t cols, int gt, int64_t group_size, const qz_awq_opts *o, const float *qw,
                      qz_quant_result *res, qz_error *err)
{
    if (gt < 0) return qz_awq_fake_quant(W, rows, cols, group_size, o->bits, o->zero_point, res, err);
    qz_quant_result tmp;
    int rc = qz_ggml_quantize_linear(gt, W, rows, cols, NULL, qw, NULL, res ? res : &tmp, err);
    if (!res && rc == QZ_OK) qz_quant_result_free(&tmp);
    return rc;
}

/* ------------------------------------------------------------ statistics */

/* x_mean[c] = mean over n rows of |X[:, c]|. */
static int abs_mean(const float *X, int64_t n, int64_t in, float *x_mean, qz_error *err)
{
    double *acc = qz_calloc_array((size_t)in, sizeof *acc);
    if (!acc) return qz_fail(err, QZ_EINTERNAL, "awq: out of memory");
    for (int64_t t = 0; t < n; t++)
        for (int64_t c = 0; c < in; c++) acc[c] += fabsf(X[t * in + c]);
    for (int64_t c = 0; c < in; c++) x_mean[c] = (float)(acc[c] / (double)n);
    free(acc);
    return QZ_OK;
}

/* w_mean[c]: mean over the rows of all n_lin linears of |w| / (max |w| of
 * its group of gs columns + 1e-6) (AutoAWQ's duo-scaling weight statistic). */
static int weight_mean(float *const *W, const int64_t *rows, int n_lin, int64_t in, int64_t group_size, float *w_mean,
                       qz_error *err)
{
    int64_t gs = group_cols(group_size, in), total = 0;
    double *acc = qz_calloc_array((size_t)in, sizeof *acc);
    if (!acc) return qz_fail(err, QZ_EINTERNAL, "awq: out of memory");
    for (int l = 0; l < n_lin; l++)
        for (int64_t r = 0; r < rows[l]; r++, total++) {
            const float *w = W[l] + r * in;
            for (int64_t c0 = 0; c0 < in; c0 += gs) {
                int64_t c1 = c0 + gs < in ? c0 + gs : in;
                float mx = 0;
                for (int64_t c = c0; c < c1; c++) mx = fabsf(w[c]) > mx ? fabsf(w[c]) : mx;
                for (int64_t c = c0; c < c1; c++) acc[c] += fabsf(w[c]) / (mx + 1e-6f);
            }
        }
    for (int64_t c = 0; c < in; c++) w_mean[c] = (float)(acc[c] / (double)total);
    free(acc);
    return QZ_OK;
}

/* Candidate scales for ratio r, normalised by sqrt(max * min). */
static void candidate_scales(const float *x_mean, const float *w_mean, int64_t in, double r, int duo, float *s)
{
    float mx = 0, mn = INFINITY;
    for (int64_t c = 0; c < in; c++) {
        float v = duo ? powf(x_mean[c], (float)r) / (powf(w_mean[c], (float)(1 - r)) + 1e-4f) : powf(x_mean[c], (float)r);
        v = v < 1e-4f ? 1e-4f : v;
        s[c] = v;
        mx = v > mx ? v : mx;
        mn = v < mn ? v : mn;
    }
    float norm = sqrtf(mx * mn);
    for (int64_t c = 0; c < in; c++) {
        s[c] /= norm;
        if (!isfinite(s[c])) s[c] = 1.0f;
    }
}

/* W <- Q(W diag(s)) diag(s)^-1, from the original orig, on grid gt (fake_quant). */
static void scaled_fake_quant(float *W, const float *orig, int64_t rows, int64_t in, const float *s, int gt, const qz_awq_opts *o)
{
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < in; c++) W[r * in + c] = orig[r * in + c] * s[c];
    qz_error qerr;
    fake_quant(W, rows, in, gt, o->group_size, o, NULL, NULL, &qerr); /* checked: the shape fits the grid (the plan's fallback) */
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < in; c++) W[r * in + c] /= s[c];
}

static double mse(const float *a, const float *b, int64_t n)
{
    double acc = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = (double)a[i] - b[i];
        acc += d * d;
    }
    return acc / (double)n;
}

/* ---------------------------------------------------------- scale search */

/* The inspected module's output for the current weights; ctx-specific. */
typedef void (*inspect_fn)(void *ctx, float *Y);

typedef struct {
    float *const *W;      /* the group's weights, modified in place during the search */
    float **orig;         /* copies of the originals */
    const int64_t *rows;
    const uint8_t *quant; /* per linear: fake-quantized during the search */
    const int *gtype;     /* per linear: its ggml grid, or -1 (AWQ's) */
    int n_lin;
    int64_t in;
    const float *x_mean;
    inspect_fn inspect;
    void *ctx;
    float *Y_fp, *Y;      /* (n_out) */
    int64_t n_out;
} search;

static double try_scales(search *sc, const float *s, const qz_awq_opts *o)
{
    for (int l = 0; l < sc->n_lin; l++) {
        if (sc->quant[l]) scaled_fake_quant(sc->W[l], sc->orig[l], sc->rows[l], sc->in, s, sc->gtype[l], o);
    }
    sc->inspect(sc->ctx, sc->Y);
    return mse(sc->Y, sc->Y_fp, sc->n_out);
}

/* Fills best (in) and the figures; leaves W as the originals. */
static int run_search(search *sc, const qz_awq_opts *o, float *best, double *ratio, double *loss_before,
                      double *loss_after, qz_error *err)
{
    int64_t in = sc->in;
    float *w_mean = qz_malloc_array((size_t)in, sizeof(float)), *s = qz_malloc_array((size_t)in, sizeof(float));
    if (!w_mean || !s) {
        free(w_mean);
        free(s);
        return qz_fail(err, QZ_EINTERNAL, "awq: out of memory");
    }
    int rc = weight_mean(sc->W, sc->rows, sc->n_lin, in, o->group_size, w_mean, err);
    if (rc) {
        free(w_mean);
        free(s);
        return rc;
    }
    sc->inspect(sc->ctx, sc->Y_fp);
    for (int64_t c = 0; c < in; c++) s[c] = 1.0f;
    *loss_before = try_scales(sc, s, o);
    double best_loss = INFINITY;
    *ratio = -1;
    for (int k = 0; k < o->n_grid; k++) {
        double r = (double)k / o->n_grid;
        candidate_scales(sc->x_mean, w_mean, in, r, o->duo_scaling, s);
        double loss = try_scales(sc, s, o);
        if (loss < best_loss) {
            best_loss = loss;
            *ratio = r;
            memcpy(best, s, (size_t)in * sizeof(float));
        }
    }
    for (int l = 0; l < sc->n_lin; l++) memcpy(sc->W[l], sc->orig[l], (size_t)(sc->rows[l] * in) * sizeof(float));
    free(w_mean);
    free(s);
    *loss_after = best_loss;
    if (*ratio < 0) return qz_fail(err, QZ_EINPUT, "awq: every scale candidate gave a non-finite loss (NaN/Inf activations?)");
    return QZ_OK;
}

/* y = x W^T of the concatenated linears, for qz_awq_search_linear. */
typedef struct {
    const float *X;
    int64_t n;
    float *const *W;
    const int64_t *rows;
    int n_lin;
    int64_t in;
} linear_ctx;

static void inspect_linears(void *ctx, float *Y)
{
    const linear_ctx *c = ctx;
    int64_t off = 0, total = 0;
    for (int l = 0; l < c->n_lin; l++) total += c->rows[l];
    for (int l = 0; l < c->n_lin; l++) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)c->n, (int)c->rows[l], (int)c->in, 1.0f, c->X, (int)c->in,
                    c->W[l], (int)c->in, 0.0f, Y + off, (int)total);
        off += c->rows[l];
    }
}

static int alloc_search(search *sc, float *const *W, const int64_t *rows, int n_lin, int64_t in, int64_t n_out, qz_error *err)
{
    memset(sc, 0, sizeof *sc);
    sc->W = W, sc->rows = rows, sc->n_lin = n_lin, sc->in = in, sc->n_out = n_out;
    sc->orig = calloc((size_t)n_lin, sizeof *sc->orig);
    sc->Y_fp = qz_malloc_array((size_t)n_out, sizeof(float));
    sc->Y = qz_malloc_array((size_t)n_out, sizeof(float));
    int ok = sc->orig && sc->Y_fp && sc->Y;
    for (int l = 0; ok && l < n_lin; l++) {
        ok = (sc->orig[l] = qz_malloc_array((size_t)(rows[l] * in), sizeof(float))) != NULL;
        if (ok) memcpy(sc->orig[l], W[l], (size_t)(rows[l] * in) * sizeof(float));
    }
    return ok ? QZ_OK : qz_fail(err, QZ_EINTERNAL, "awq: out of memory for the scale search");
}

static void free_search(search *sc)
{
    for (int l = 0; sc->orig && l < sc->n_lin; l++) free(sc->orig[l]);
    free(sc->orig);
    free(sc->Y_fp);
    free(sc->Y);
}

int qz_awq_search_linear(const float *X, int64_t n, float *const *W, const int64_t *rows, int n_lin, int64_t in,
                         const qz_awq_opts *o, float *s, double *ratio, double *loss_before, double *loss_after,
                         qz_error *err)
{
    int64_t total = 0;
    uint8_t quant[8];
    int gtype[8];
    QZ_ASSERT(n_lin <= 8);
    for (int l = 0; l < n_lin; l++) total += rows[l], quant[l] = 1, gtype[l] = -1;
    float *x_mean = qz_malloc_array((size_t)in, sizeof(float));
    if (!x_mean) return qz_fail(err, QZ_EINTERNAL, "awq: out of memory");
    int rc = abs_mean(X, n, in, x_mean, err);
    linear_ctx lc = {X, n, W, rows, n_lin, in};
    search sc;
    if (rc == QZ_OK) rc = alloc_search(&sc, W, rows, n_lin, in, n * total, err);
    else memset(&sc, 0, sizeof sc);
    if (rc == QZ_OK) {
        sc.quant = quant, sc.gtype = gtype, sc.x_mean = x_mean, sc.inspect = inspect_linears, sc.ctx = &lc;
        rc = run_search(&sc, o, s, ratio, loss_before, loss_after, err);
    }
    free_search(&sc);
    free(x_mean);
    return rc;
}

/* ------------------------------------------------------------ clip search */

/* Best clip max of every row for one group of w columns starting at c0:
 * Wg (rows, w) is the group's weights, Xs (ns, cols) the sampled inputs. */
static void clip_group(const float *Wg, int64_t rows, int64_t w, const float *Xs, int64_t ns, int64_t cols, int64_t c0, int gt,
                       const qz_awq_opts *o, float *Qg, float *out0, float *out, float *best, float *amax, double *best_err)
{
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)ns, (int)rows, (int)w, 1.0f, Xs + c0, (int)cols, Wg, (int)w,
                0.0f, out0, (int)rows);
    for (int64_t r = 0; r < rows; r++) {
        float m = 0;
        for (int64_t c = 0; c < w; c++) m = fabsf(Wg[r * w + c]) > m ? fabsf(Wg[r * w + c]) : m;
        amax[r] = best[r] = m;
    }
    for (int64_t r = 0; r < rows; r++) best_err[r] = INFINITY;
    for (int i = 0; i < o->n_grid / 2; i++) {
        float shrink = 1.0f - (float)i / (float)o->n_grid;
        for (int64_t r = 0; r < rows; r++) {
            float mv = amax[r] * shrink;
            for (int64_t c = 0; c < w; c++) {
                float v = Wg[r * w + c];
                Qg[r * w + c] = v > mv ? mv : v < -mv ? -mv : v;
            }
        }
        qz_error qerr;
        fake_quant(Qg, rows, w, gt, -1, o, NULL, NULL, &qerr); /* w is a whole number of gt's blocks */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)ns, (int)rows, (int)w, 1.0f, Xs + c0, (int)cols, Qg,
                    (int)w, 0.0f, out, (int)rows);
        for (int64_t r = 0; r < rows; r++) {
            double e = 0;
            for (int64_t t = 0; t < ns; t++) {
                double d = (double)out[t * rows + r] - out0[t * rows + r];
                e += d * d;
            }
            if (e / (double)ns < best_err[r]) {
                best_err[r] = e / (double)ns;
                best[r] = amax[r] * shrink;
            }
        }
    }
}

/* The clip search on grid gt (fake_quant); its groups are gt's blocks. */
static int clip_linear(float *W, int64_t rows, int64_t cols, const float *X, int64_t n, int gt, const qz_awq_opts *o,
                       double *mean_clip, qz_error *err)
{
    int64_t gs = gt >= 0 ? qz_ggml_type_traits(gt)->block_size : group_cols(o->group_size, cols), ng = (cols + gs - 1) / gs;
    int64_t step = n / 512 > 1 ? n / 512 : 1, ns = (n + step - 1) / step;
    float *Xs = qz_malloc_array((size_t)(ns * cols), sizeof(float));
    float *Wg = qz_malloc_array((size_t)(rows * gs), sizeof(float)), *Qg = qz_malloc_array((size_t)(rows * gs), sizeof(float));
    float *out0 = qz_malloc_array((size_t)(ns * rows), sizeof(float)), *out = qz_malloc_array((size_t)(ns * rows), sizeof(float));
    float *amax = qz_malloc_array((size_t)rows, sizeof(float)), *best = qz_malloc_array((size_t)rows, sizeof(float));
    double *best_err = qz_malloc_array((size_t)rows, sizeof(double));
    if (!Xs || !Wg || !Qg || !out0 || !out || !amax || !best || !best_err) {
        free(Xs), free(Wg), free(Qg), free(out0), free(out), free(amax), free(best), free(best_err);
        return qz_fail(err, QZ_EINTERNAL, "awq: out of memory for the clip search");
    }
    for (int64_t t = 0; t < ns; t++) memcpy(Xs + t * cols, X + t * step * cols, (size_t)cols * sizeof(float));
    double clip_sum = 0;
    for (int64_t g = 0; g < ng; g++) {
        int64_t c0 = g * gs, w = c0 + gs <= cols ? gs : cols - c0;
        for (int64_t r = 0; r < rows; r++) memcpy(Wg + r * w, W + r * cols + c0, (size_t)w * sizeof(float));
        clip_group(Wg, rows, w, Xs, ns, cols, c0, gt, o, Qg, out0, out, best, amax, best_err);
        for (int64_t r = 0; r < rows; r++) {
            float mv = best[r];
            for (int64_t c = c0; c < c0 + w; c++) {
                float v = W[r * cols + c];
                W[r * cols + c] = v > mv ? mv : v < -mv ? -mv : v;
            }
            clip_sum += amax[r] > 0 ? best[r] / amax[r] : 1.0;
        }
    }
    *mean_clip = clip_sum / (double)(rows * ng);
    free(Xs), free(Wg), free(Qg), free(out0), free(out), free(amax), free(best), free(best_err);
    return QZ_OK;
}

int qz_awq_clip_linear(float *W, int64_t rows, int64_t cols, const float *X, int64_t n, const qz_awq_opts *o,
                       double *mean_clip, qz_error *err)
{
    return clip_linear(W, rows, cols, X, n, -1, o, mean_clip, err);
}

/* ------------------------------------------------------------- the method */

typedef enum { PREV_ATTN_NORM, PREV_V, PREV_MLP_NORM, PREV_UP } prev_op;
typedef enum { INSPECT_ATTN, INSPECT_MLP, INSPECT_LINEAR } inspect_kind;

typedef struct {
    qz_linear_id ids[3];
    int n;
    qz_site site;
    prev_op prev;
    inspect_kind inspect;
} scale_group;

static const scale_group groups[4] = {
    {{QZ_LIN_Q, QZ_LIN_K, QZ_LIN_V}, 3, QZ_SITE_ATTN_IN, PREV_ATTN_NORM, INSPECT_ATTN},
    {{QZ_LIN_O}, 1, QZ_SITE_O_IN, PREV_V, INSPECT_LINEAR},
    {{QZ_LIN_GATE, QZ_LIN_UP}, 2, QZ_SITE_MLP_IN, PREV_MLP_NORM, INSPECT_MLP},
    {{QZ_LIN_DOWN}, 1, QZ_SITE_DOWN_IN, PREV_UP, INSPECT_LINEAR},
};

struct qz_awq {
    qz_awq_opts o;
    const qz_model *m;
    qz_quant_sink sink;
    qz_method method;
    int64_t nsamples, seqlen, n_tok;
    int64_t site_dim[QZ_SITE_COUNT];
    float *cache[QZ_SITE_COUNT];   /* (n_tok, site_dim) the layer's FP inputs */
    int64_t seen[QZ_SITE_COUNT];   /* samples observed this layer */
    qz_scratch *scratch;
    qz_quant_result res[QZ_LIN_COUNT];
    qz_module_report rep[QZ_LIN_COUNT];
};

typedef struct {
    qz_awq *a;
    qz_layer *L;
    const scale_group *g;
} block_ctx;

/* The inspected module's output over every calibration token: (n_tok, hidden). */
static void inspect_block(void *ctx, float *Y)
{
    const block_ctx *b = ctx;
    qz_awq *a = b->a;
    int64_t T = a->seqlen, d = a->m->cfg.hidden, in = a->site_dim[b->g->site];
    const float *X = a->cache[b->g->site];
    if (b->g->inspect == INSPECT_LINEAR) {
        qz_linear_apply(&b->L->lin[b->g->ids[0]], X, a->n_tok, Y);
        return;
    }
    for (int64_t i = 0; i < a->nsamples; i++) {
        if (b->g->inspect == INSPECT_ATTN) qz_attention_block(a->m, b->L, X + i * T * in, 1, T, a->scratch, Y + i * T * d, NULL);
        else qz_mlp_block(a->m, b->L, X + i * T * in, 1, T, a->scratch, Y + i * T * d, NULL);
    }
}

static void awq_observe(void *ctx, const qz_layer *L, qz_site site, const float *x, int64_t T)
{
    qz_awq *a = ctx;
    (void)L;
    int64_t n = T * a->site_dim[site];
    QZ_ASSERT(T == a->seqlen && a->seen[site] < a->nsamples);
    memcpy(a->cache[site] + a->seen[site]++ * n, x, (size_t)n * sizeof(float));
}

static int awq_layer_begin(void *ctx, const qz_model *m, qz_layer *L, qz_error *err)
{
    (void)m, (void)L, (void)err;
    qz_awq *a = ctx;
    memset(a->seen, 0, sizeof a->seen);
    memset(a->rep, 0, sizeof a->rep);
    for (int id = 0; id < QZ_LIN_COUNT; id++) {
        a->rep[id] = (qz_module_report){.layer = L->index, .id = (qz_linear_id)id, .method = QZ_QUANT_AWQ, .awq_ratio = -1,
                                        .awq_clip = 1.0};
    }
    return QZ_OK;
}

/* v -> o scaling needs v's output rows to be o's input columns one to one;
 * a group none of whose linears will be quantized keeps its weights. */
static int group_applies(const qz_awq *a, const scale_group *g)
{
    const qz_model_config *c = &a->m->cfg;
    int any = 0;
    for (int k = 0; k < g->n; k++) any |= !a->o.skip[g->ids[k]];
    return any && (g->prev != PREV_V || c->n_kv_heads == c->n_heads);
}

#define GT_FP (-2) /* a GGUF F16/F32 linear: not quantized */

/* The ggml grid of linear id (-1: AWQ's own; GT_FP: left in FP). */
static int linear_gtype(const qz_awq *a, const qz_layer *L, qz_linear_id id)
{
    if (!a->o.ggml_types) return -1;
    int t = a->o.ggml_types[L->index * QZ_LIN_COUNT + id];
    return qz_ggml_type_traits(t)->params ? t : GT_FP;
}

/* Folds s into the previous op and the group's columns; the cached input /= s. */
static void fold_scales(qz_awq *a, qz_layer *L, const scale_group *g, const float *s)
{
    int64_t in = a->site_dim[g->site];
    float *norm = g->prev == PREV_ATTN_NORM ? L->attn_norm : g->prev == PREV_MLP_NORM ? L->mlp_norm : NULL;
    if (norm)
        for (int64_t c = 0; c < in; c++) norm[c] /= s[c];
    else {
        qz_linear *p = &L->lin[g->prev == PREV_V ? QZ_LIN_V : QZ_LIN_UP];
        QZ_ASSERT(p->out == in);
        for (int64_t r = 0; r < p->out; r++) {
            for (int64_t c = 0; c < p->in; c++) p->w[r * p->in + c] /= s[r];
            if (p->bias) p->bias[r] /= s[r];
        }
    }
    for (int k = 0; k < g->n; k++) {
        qz_linear *l = &L->lin[g->ids[k]];
        for (int64_t r = 0; r < l->out; r++)
            for (int64_t c = 0; c < in; c++) l->w[r * in + c] *= s[c];
    }
    float *X = a->cache[g->site];
    for (int64_t t = 0; t < a->n_tok; t++)
        for (int64_t c = 0; c < in; c++) X[t * in + c] /= s[c];
}

static int search_group(qz_awq *a, qz_layer *L, const scale_group *g, float *s, qz_error *err)
{
    int64_t in = a->site_dim[g->site];
    float *W[3];
    int64_t rows[3];
    uint8_t quant[3];
    int gtype[3];
    for (int k = 0; k < g->n; k++) {
        W[k] = L->lin[g->ids[k]].w;
        rows[k] = L->lin[g->ids[k]].out;
        gtype[k] = linear_gtype(a, L, g->ids[k]);
        quant[k] = !a->o.skip[g->ids[k]] && gtype[k] != GT_FP; /* --scale-only searches for the quantization that follows */
    }
    float *x_mean = qz_malloc_array((size_t)in, sizeof(float));
    if (!x_mean) return qz_fail(err, QZ_EINTERNAL, "awq: out of memory");
    int rc = abs_mean(a->cache[g->site], a->n_tok, in, x_mean, err);
    block_ctx bc = {a, L, g};
    search sc;
    double t0 = qz_now(), ratio = -1, before = 0, after = 0;
    if (rc == QZ_OK) rc = alloc_search(&sc, W, rows, g->n, in, a->n_tok * a->m->cfg.hidden, err);
    else memset(&sc, 0, sizeof sc);
    if (rc == QZ_OK) {
        sc.quant = quant, sc.gtype = gtype, sc.x_mean = x_mean, sc.inspect = inspect_block, sc.ctx = &bc;
        rc = run_search(&sc, &a->o, s, &ratio, &before, &after, err);
    }
    free_search(&sc);
    free(x_mean);
    for (int k = 0; rc == QZ_OK && k < g->n; k++) {
        qz_module_report *r = &a->rep[g->ids[k]];
        r->awq_ratio = ratio, r->awq_loss_before = before, r->loss = after, r->seconds += qz_now() - t0;
    }
    if (rc) {
        char msg[QZ_ERRMSG_MAX];
        snprintf(msg, sizeof msg, "%s", err->msg);
        return qz_fail(err, rc, "layer %lld %s: %s", (long long)L->index, qz_site_name(g->site), msg);
    }
    return QZ_OK;
}

/* qw[c] = sum over n rows of X[:, c]^2: llama-imatrix's statistic. */
static int sum_squares(const float *X, int64_t n, int64_t in, float *qw, qz_error *err)
{
    double *acc = qz_calloc_array((size_t)in, sizeof *acc);
    if (!acc) return qz_fail(err, QZ_EINTERNAL, "awq: out of memory");
    for (int64_t t = 0; t < n; t++)
        for (int64_t c = 0; c < in; c++) acc[c] += (double)X[t * in + c] * X[t * in + c];
    for (int64_t c = 0; c < in; c++) qw[c] = (float)acc[c];
    free(acc);
    return QZ_OK;
}

/* The final rounding: onto a ggml type with weighted parameters, the
 * importances are the scaled inputs' (the cache holds x / s). */
static int quantize_linear(qz_awq *a, qz_linear *l, qz_site site, int gt, qz_quant_result *res, qz_error *err)
{
    float *qw = NULL;
    if (gt >= 0 && !a->o.ggml_ref_params) {
        if (!(qw = qz_malloc_array((size_t)l->in, sizeof(float)))) return qz_fail(err, QZ_EINTERNAL, "awq: out of memory");
        int rc = sum_squares(a->cache[site], a->n_tok, l->in, qw, err);
        if (rc) {
            free(qw);
            return rc;
        }
    }
    int rc = fake_quant(l->w, l->out, l->in, gt, a->o.group_size, &a->o, qw, res, err);
    free(qw);
    return rc;
}

/* Clip (not q, k, nor unquantized linears) and quantize one linear. */
static int finish_linear(qz_awq *a, qz_layer *L, qz_linear_id id, qz_error *err)
{
    qz_linear *l = &L->lin[id];
    qz_module_report *r = &a->rep[id];
    int gt = linear_gtype(a, L, id), quantizable = !a->o.skip[id] && gt != GT_FP;
    double t0 = qz_now();
    int rc = QZ_OK;
    if (a->o.clip && quantizable && id != QZ_LIN_Q && id != QZ_LIN_K)
        rc = clip_linear(l->w, l->out, l->in, a->cache[qz_linear_site(id)], a->n_tok, gt, &a->o, &r->awq_clip, err);
    if (rc == QZ_OK && quantizable && a->o.quantize) {
        rc = quantize_linear(a, l, qz_linear_site(id), gt, &a->res[id], err);
        r->quantized = rc == QZ_OK;
    }
    r->seconds += qz_now() - t0;
    return rc;
}

static int awq_transform(void *ctx, qz_layer *L, const qz_linear_id *ids, int n, qz_error *err)
{
    (void)ids, (void)n; /* one stage: the whole layer */
    qz_awq *a = ctx;
    for (int s = 0; s < QZ_SITE_COUNT; s++)
        if (a->seen[s] != a->nsamples) return qz_fail(err, QZ_EINTERNAL, "awq: site %d saw %lld samples", s, (long long)a->seen[s]);
    float *scales[4] = {0};
    int rc = QZ_OK;
    /* 1. every group's search on the unscaled layer, as AutoAWQ; 2. fold */
    for (int g = 0; g < 4 && rc == QZ_OK; g++) {
        if (!group_applies(a, &groups[g])) continue;
        scales[g] = qz_malloc_array((size_t)a->site_dim[groups[g].site], sizeof(float));
        rc = scales[g] ? search_group(a, L, &groups[g], scales[g], err) : qz_fail(err, QZ_EINTERNAL, "awq: out of memory");
    }
    for (int g = 0; g < 4 && rc == QZ_OK; g++)
        if (scales[g]) fold_scales(a, L, &groups[g], scales[g]);
    for (int g = 0; g < 4; g++) free(scales[g]);
    /* 3. clip, 4. quantize */
    for (int id = 0; id < QZ_LIN_COUNT && rc == QZ_OK; id++) rc = finish_linear(a, L, (qz_linear_id)id, err);
    return rc;
}

static int awq_layer_end(void *ctx, const qz_model *m, const qz_layer *L, qz_error *err)
{
    (void)m;
    qz_awq *a = ctx;
    const qz_quant_result *res[QZ_LIN_COUNT];
    for (int id = 0; id < QZ_LIN_COUNT; id++) res[id] = a->rep[id].quantized ? &a->res[id] : NULL;
    int rc = a->sink.write_layer(a->sink.ctx, L, res, a->rep, err);
    for (int id = 0; id < QZ_LIN_COUNT; id++) qz_quant_result_free(&a->res[id]);
    return rc;
}

int qz_awq_new(qz_awq **out, const qz_model *m, const qz_awq_opts *o, int64_t nsamples, int64_t seqlen,
               const qz_quant_sink *sink, qz_error *err)
{
    *out = NULL;
    if (o->bits < 2 || o->bits > 8 || o->n_grid < 2 || o->group_size == 0 || o->group_size < -1)
        return qz_fail(err, QZ_EINPUT, "awq: bits %d, n_grid %d, group_size %lld: need bits 2..8, n_grid >= 2, group size -1 or > 0",
                       o->bits, o->n_grid, (long long)o->group_size);
    qz_awq *a = calloc(1, sizeof *a);
    if (!a) return qz_fail(err, QZ_EINTERNAL, "out of memory");
    a->o = *o, a->m = m, a->sink = *sink, a->nsamples = nsamples, a->seqlen = seqlen, a->n_tok = nsamples * seqlen;
    int ok = 1;
    for (int id = 0; id < QZ_LIN_COUNT; id++) a->site_dim[qz_linear_site((qz_linear_id)id)] = qz_linear_in(&m->cfg, (qz_linear_id)id);
    for (int s = 0; s < QZ_SITE_COUNT && ok; s++)
        ok = (a->cache[s] = qz_malloc_array((size_t)(a->n_tok * a->site_dim[s]), sizeof(float))) != NULL;
    int rc = ok ? qz_scratch_new(&a->scratch, &m->cfg, seqlen, err)
                : qz_fail(err, QZ_EINTERNAL, "out of memory caching %lld calibration tokens per input site", (long long)a->n_tok);
    if (rc) {
        qz_awq_free(a);
        return rc;
    }
    a->method = (qz_method){.ctx = a, .feed_fp_outputs = !o->sequential, .layer_begin = awq_layer_begin,
                            .observe = awq_observe, .transform = awq_transform, .layer_end = awq_layer_end};
    *out = a;
    return QZ_OK;
}

const qz_method *qz_awq_method(qz_awq *a)
{
    return &a->method;
}

void qz_awq_free(qz_awq *a)
{
    if (!a) return;
    for (int s = 0; s < QZ_SITE_COUNT; s++) free(a->cache[s]);
    for (int id = 0; id < QZ_LIN_COUNT; id++) qz_quant_result_free(&a->res[id]);
    qz_scratch_free(a->scratch);
    free(a);
}
