/* test_train.c - the training code (libquant/train/): every op's backward
 * against central finite differences of an FP64 forward, every loss's
 * gradient against finite differences of the loss (computed in double from
 * float logits), the whole-model gradient by finite differences and against
 * a float64 torch autograd fixture
 * (scripts/gen_train_fixture.py), one AdamW step pair against
 * torch.optim.AdamW, the schedule and clipping by hand, the trainer's
 * forward against model.c's, and save / load / continue giving the bytes of
 * an uninterrupted run. */
#include "distill.h"
#include "eval.h"
#include "synth.h"
#include "tests/qz_fixture.h"
#include "tests/qz_test.h"

#include <math.h>
#include <string.h>

static char tmpdir[512];

/* Finite differences through float32 inputs (the losses, the whole model), eps 1e-2. */
#define FD_EPS 1e-2
#define FD_ATOL 2e-3
#define FD_RTOL 2e-2

static void fill(float *x, int64_t n, qz_rng *r, double mean, double sd)
{
    for (int64_t i = 0; i < n; i++) x[i] = (float)(mean + sd * qz_rng_normal(r));
}

static double dot(const float *a, const float *b, int64_t n)
{
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

/* Central differences of f at every (or every stride-th) entry of x
 * against grad; f recomputes the loss from the current x. */
static void check_fd(const char *what, float *x, int64_t n, int64_t stride, const float *grad, double (*f)(void *), void *ctx)
{
    for (int64_t i = 0; i < n; i += stride) {
        float save = x[i];
        float xp = (float)(save + FD_EPS), xm = (float)(save - FD_EPS);
        x[i] = xp;
        double fp = f(ctx);
        x[i] = xm;
        double fm = f(ctx);
        x[i] = save;
        double fd = (fp - fm) / ((double)xp - xm);
        CHECK(fabs(grad[i] - fd) <= FD_ATOL + FD_RTOL * fabs(fd), "%s[%lld]: backward %.6g, finite difference %.6g", what, (long long)i,
              (double)grad[i], fd);
    }
}

/* ------------------------------------------------------------------- ops */
/* Each op's float backward against central differences of an FP64
 * transcription of its forward written here (eps 1e-6, so the differences
 * are exact to ~1e-9): the tolerance is the float backward's own rounding. */

#define FD64_EPS 1e-6
#define FD64_ATOL 1e-5
#define FD64_RTOL 1e-4

typedef struct op64 {
    double *x, *w, *b, *k, *v, *r, *cs, *sn;
    int64_t n, dim, in, out, T, H, KV, hd, window;
} op64;

static double *to64(const float *x, int64_t n)
{
    double *d = malloc((size_t)n * sizeof *d);
    for (int64_t i = 0; i < n; i++) d[i] = x[i];
    return d;
}

static void check_fd64(const char *what, double *x, int64_t n, const float *grad, double (*f)(const op64 *), const op64 *c)
{
    for (int64_t i = 0; i < n; i++) {
        double save = x[i];
        x[i] = save + FD64_EPS;
        double fp = f(c);
        x[i] = save - FD64_EPS;
        double fm = f(c);
        x[i] = save;
        double fd = (fp - fm) / (2 * FD64_EPS);
        CHECK(fabs(grad[i] - fd) <= FD64_ATOL + FD64_RTOL * fabs(fd), "%s[%lld]: backward %.9g, FP64 finite difference %.9g", what,
              (long long)i, (double)grad[i], fd);
    }
}

static double f64_rmsnorm(const op64 *c)
{
    double s = 0;
    for (int64_t r = 0; r < c->n; r++) {
        const double *x = c->x + r * c->dim;
        double ss = 0;
        for (int64_t i = 0; i < c->dim; i++) ss += x[i] * x[i];
        double inv = 1.0 / sqrt(ss / (double)c->dim + 1e-5);
        for (int64_t i = 0; i < c->dim; i++) s += c->w[i] * x[i] * inv * c->r[r * c->dim + i];
    }
    return s;
}

static void test_rmsnorm_backward(void)
{
    enum { N = 3, D = 8 };
    float x[N * D], w[D], y[N * D], r[N * D], rstd[N], dx[N * D] = {0}, dw[D] = {0};
    qz_rng g;
    qz_rng_seed(&g, 1);
    fill(x, N * D, &g, 0, 1), fill(w, D, &g, 1, 0.3), fill(r, N * D, &g, 0, 1);
    qz_rmsnorm_rstd(y, rstd, x, w, N, D, 1e-5);
    qz_train_rmsnorm_backward(dx, dw, r, x, w, rstd, N, D);
    op64 c = {.x = to64(x, N * D), .w = to64(w, D), .r = to64(r, N * D), .n = N, .dim = D};
    check_fd64("rmsnorm dx", c.x, N * D, dx, f64_rmsnorm, &c);
    check_fd64("rmsnorm dw", c.w, D, dw, f64_rmsnorm, &c);
    free(c.x), free(c.w), free(c.r);
}

static double f64_linear(const op64 *c)
{
    double s = 0;
    for (int64_t t = 0; t < c->T; t++)
        for (int64_t o = 0; o < c->out; o++) {
            double y = c->b[o];
            for (int64_t i = 0; i < c->in; i++) y += c->x[t * c->in + i] * c->w[o * c->in + i];
            s += y * c->r[t * c->out + o];
        }
    return s;
}

static void test_linear_backward(void)
{
    enum { T = 3, IN = 5, OUT = 4 };
    float x[T * IN], w[OUT * IN], b[OUT], r[T * OUT], dx[T * IN] = {0}, dw[OUT * IN] = {0}, db[OUT] = {0};
    qz_rng g;
    qz_rng_seed(&g, 2);
    fill(x, T * IN, &g, 0, 1), fill(w, OUT * IN, &g, 0, 0.5), fill(b, OUT, &g, 0, 0.5), fill(r, T * OUT, &g, 0, 1);
    qz_train_linear_backward(dx, dw, db, r, x, w, T, IN, OUT);
    op64 c = {.x = to64(x, T * IN), .w = to64(w, OUT * IN), .b = to64(b, OUT), .r = to64(r, T * OUT), .T = T, .in = IN, .out = OUT};
    check_fd64("linear dx", c.x, T * IN, dx, f64_linear, &c);
    check_fd64("linear dw", c.w, OUT * IN, dw, f64_linear, &c);
    check_fd64("linear db", c.b, OUT, db, f64_linear, &c);
    free(c.x), free(c.w), free(c.b), free(c.r);
}

static double f64_rope(const op64 *c)
{
    int64_t half = c->hd / 2;
    double s = 0;
    for (int64_t t = 0; t < c->T; t++)
        for (int64_t h = 0; h < c->H; h++)
            for (int64_t i = 0; i < half; i++) {
                int64_t o = (t * c->H + h) * c->hd + i;
                double a = c->x[o], b = c->x[o + half], cs = c->cs[t * half + i], sn = c->sn[t * half + i];
                s += (a * cs - b * sn) * c->r[o] + (b * cs + a * sn) * c->r[o + half];
            }
    return s;
}

static void test_rope_backward(void)
{
    enum { T = 3, H = 2, HD = 4, N = T * H * HD };
    float x[N], r[N], dx[N], cs[T * HD / 2], sn[T * HD / 2], sn_neg[T * HD / 2];
    qz_rng g;
    qz_rng_seed(&g, 3);
    for (int i = 0; i < T * HD / 2; i++) {
        double a = 3 * qz_rng_normal(&g);
        cs[i] = (float)cos(a), sn[i] = (float)sin(a), sn_neg[i] = -sn[i];
    }
    fill(x, N, &g, 0, 1), fill(r, N, &g, 0, 1);
    memcpy(dx, r, sizeof dx);
    qz_rope(dx, 1, T, H, HD, cs, sn_neg); /* the trainer's RoPE backward */
    op64 c = {.x = to64(x, N), .r = to64(r, N), .cs = to64(cs, T * HD / 2), .sn = to64(sn, T * HD / 2), .T = T, .H = H, .hd = HD};
    check_fd64("rope dx", c.x, N, dx, f64_rope, &c);
    free(c.x), free(c.r), free(c.cs), free(c.sn);
}

/* Causal (optionally sliding-window) grouped-query attention in FP64. */
static double f64_attention(const op64 *c)
{
    int64_t T = c->T, hd = c->hd, qd = c->H * hd, kvd = c->KV * hd, group = c->H / c->KV;
    double s = 0, p[16];
    for (int64_t h = 0; h < c->H; h++)
        for (int64_t t = 0; t < T; t++) {
            int64_t g = h / group, lo = c->window && t >= c->window ? t - c->window + 1 : 0;
            double mx = -INFINITY, sum = 0;
            for (int64_t j = lo; j <= t; j++) {
                double d = 0;
                for (int64_t i = 0; i < hd; i++) d += c->x[t * qd + h * hd + i] * c->k[j * kvd + g * hd + i];
                p[j] = d / sqrt((double)hd);
                mx = fmax(mx, p[j]);
            }
            for (int64_t j = lo; j <= t; j++) sum += p[j] = exp(p[j] - mx);
            for (int64_t i = 0; i < hd; i++) {
                double o = 0;
                for (int64_t j = lo; j <= t; j++) o += p[j] / sum * c->v[j * kvd + g * hd + i];
                s += o * c->r[t * qd + h * hd + i];
            }
        }
    return s;
}

static void attention_case(int64_t window)
{
    enum { T = 5, H = 4, KV = 2, HD = 3, QD = H * HD, KVD = KV * HD };
    float q[T * QD], k[T * KVD], v[T * KVD], y[T * QD], r[T * QD], p[H * T * T], dp[T * T];
    float dq[T * QD], dk[T * KVD], dv[T * KVD];
    qz_rng g;
    qz_rng_seed(&g, 4 + (uint64_t)window);
    fill(q, T * QD, &g, 0, 1), fill(k, T * KVD, &g, 0, 1), fill(v, T * KVD, &g, 0, 1), fill(r, T * QD, &g, 0, 1);
    qz_train_attention(y, p, q, k, v, T, H, KV, HD, window);
    for (int64_t t = 0; window && t < T; t++)
        for (int64_t j = 0; j < T; j++)
            CHECK((p[t * T + j] == 0) == (j > t || j <= t - window), "window %lld: p[%lld,%lld] = %g", (long long)window, (long long)t,
                  (long long)j, (double)p[t * T + j]);
    qz_train_attention_backward(dq, dk, dv, dp, r, p, q, k, v, T, H, KV, HD);
    op64 c = {.x = to64(q, T * QD), .k = to64(k, T * KVD), .v = to64(v, T * KVD), .r = to64(r, T * QD), .T = T, .H = H, .KV = KV,
              .hd = HD, .window = window};
    CHECK(fabs(f64_attention(&c) - dot(y, r, T * QD)) < 1e-5, "forward differs from FP64");
    check_fd64("attention dq", c.x, T * QD, dq, f64_attention, &c);
    check_fd64("attention dk", c.k, T * KVD, dk, f64_attention, &c);
    check_fd64("attention dv", c.v, T * KVD, dv, f64_attention, &c);
    free(c.x), free(c.k), free(c.v), free(c.r);
}

static void test_attention_backward(void)
{
    attention_case(0);
    attention_case(3); /* sliding window */
}

static double f64_swiglu(const op64 *c)
{
    double s = 0;
    for (int64_t i = 0; i < c->n; i++) s += c->x[i] / (1.0 + exp(-c->x[i])) * c->w[i] * c->r[i];
    return s;
}

static void test_swiglu_backward(void)
{
    enum { N = 12 };
    float g_[N], u[N], r[N], dg[N], du[N];
    qz_rng g;
    qz_rng_seed(&g, 5);
    fill(g_, N, &g, 0, 2), fill(u, N, &g, 0, 1), fill(r, N, &g, 0, 1);
    qz_train_swiglu_backward(dg, du, r, g_, u, N);
    op64 c = {.x = to64(g_, N), .w = to64(u, N), .r = to64(r, N), .n = N};
    check_fd64("swiglu dgate", c.x, N, dg, f64_swiglu, &c);
    check_fd64("swiglu dup", c.w, N, du, f64_swiglu, &c);
    free(c.x), free(c.w), free(c.r);
}

/* ---------------------------------------------------------------- losses */

enum { LV = 7 };
typedef struct loss_ctx {
    qz_loss_opts o;
    float zs[LV], zt[LV], dz[LV], logp[LV];
    int32_t ids[LV];
    int k;
    double p_rest, work[3 * LV];
} loss_ctx;

static double f_loss(void *p)
{
    loss_ctx *c = p;
    float dz[LV];
    if (c->k) return qz_loss_row_topk(&c->o, c->zs, LV, c->ids, c->logp, c->k, c->p_rest, 2, 1.0, dz, c->work).loss;
    return qz_loss_row(&c->o, c->zs, c->zt, LV, 2, 1.0, dz, c->work).loss;
}

static void test_loss_gradients(void)
{
    const qz_loss_opts cases[] = {{QZ_LOSS_KL, 1.0, 1.0}, {QZ_LOSS_KL, 0.5, 2.0}, {QZ_LOSS_RKL, 1.0, 1.5}, {QZ_LOSS_RKL, 0.3, 1.0},
                                  {QZ_LOSS_JSD, 1.0, 1.0}, {QZ_LOSS_JSD, 0.5, 3.0}, {QZ_LOSS_CE, 0.0, 1.0}};
    qz_rng g;
    qz_rng_seed(&g, 6);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        loss_ctx c = {.o = cases[i]};
        fill(c.zs, LV, &g, 0, 2), fill(c.zt, LV, &g, 0, 2);
        qz_loss_row(&c.o, c.zs, c.zt, LV, 2, 1.0, c.dz, c.work);
        char what[64];
        snprintf(what, sizeof what, "%s alpha %g tau %g", qz_loss_name(c.o.kind), c.o.alpha, c.o.temperature);
        check_fd(what, c.zs, LV, 1, c.dz, f_loss, &c);
    }
    /* identical distributions: every divergence 0 */
    loss_ctx c = {.o = {QZ_LOSS_JSD, 1.0, 2.0}};
    fill(c.zs, LV, &g, 0, 2);
    memcpy(c.zt, c.zs, sizeof c.zt);
    for (int kind = 0; kind < QZ_LOSS_CE; kind++) {
        c.o.kind = (qz_loss_kind)kind;
        CHECK_CLOSE(qz_loss_row(&c.o, c.zs, c.zt, LV, 2, 1.0, c.dz, c.work).div, 0.0, 1e-12, 0);
    }
}

/* The top-k estimate: all V entries = the exact KL; fewer, its gradient. */
static void test_loss_topk(void)
{
    qz_rng g;
    qz_rng_seed(&g, 7);
    loss_ctx c = {.o = {QZ_LOSS_KL, 0.8, 1.0}};
    fill(c.zs, LV, &g, 0, 2), fill(c.zt, LV, &g, 0, 2);
    double lp[LV], mx = -INFINITY, s = 0;
    for (int i = 0; i < LV; i++) mx = fmax(mx, c.zt[i]);
    for (int i = 0; i < LV; i++) s += exp(c.zt[i] - mx);
    for (int i = 0; i < LV; i++) lp[i] = c.zt[i] - mx - log(s);
    for (int i = 0; i < LV; i++) c.ids[i] = (int32_t)((i * 3) % LV), c.logp[i] = (float)lp[c.ids[i]];
    float dz_full[LV];
    qz_loss_terms full = qz_loss_row(&c.o, c.zs, c.zt, LV, 2, 1.0, dz_full, c.work);
    qz_loss_terms top = qz_loss_row_topk(&c.o, c.zs, LV, c.ids, c.logp, LV, 0.0, 2, 1.0, c.dz, c.work);
    CHECK_CLOSE(top.div, full.div, 1e-6, 1e-5);
    for (int i = 0; i < LV; i++) CHECK_CLOSE(c.dz[i], dz_full[i], 1e-6, 1e-5);
    c.k = 3;
    c.p_rest = 0;
    for (int i = 3; i < LV; i++) c.p_rest += exp(lp[c.ids[i]]);
    qz_loss_row_topk(&c.o, c.zs, LV, c.ids, c.logp, c.k, c.p_rest, 2, 1.0, c.dz, c.work);
    check_fd("top-3 kl", c.zs, LV, 1, c.dz, f_loss, &c);
}

/* ----------------------------------------------------------- whole model */

static int synth_model(const char *name, qz_model_config c, uint64_t seed, qz_model **m, qz_error *err)
{
    char dir[600];
    snprintf(dir, sizeof dir, "%s/%s", tmpdir, name);
    mkdir(dir, 0700);
    int rc = qz_synth_write(dir, &c, seed, err);
    return rc ? rc : qz_model_open(m, dir, err);
}

static qz_model_config tiny_config(int64_t vocab, int64_t hidden, int64_t ffn, int64_t heads, int64_t kv, int tie, int bias)
{
    return (qz_model_config){.arch = QZ_ARCH_LLAMA, .hidden = hidden, .intermediate = ffn, .n_layers = 2, .n_heads = heads,
                             .n_kv_heads = kv, .head_dim = hidden / heads, .vocab = vocab, .max_position = 64, .rms_eps = 1e-5,
                             .rope_theta = 10000, .tie_embeddings = tie, .qkv_bias = bias, .bos_id = 1, .eos_id = 2,
                             .torch_dtype = QZ_DTYPE_F32};
}

/* The fixture's teacher rows. */
typedef struct fixed_teacher {
    const float *logits, *hidden;
    int64_t V, d;
} fixed_teacher;

static int fixed_rows(void *ctx, int64_t r0, int64_t n, float *logits, float *hidden, qz_error *err)
{
    fixed_teacher *t = ctx;
    (void)err;
    memcpy(logits, t->logits + r0 * t->V, (size_t)(n * t->V) * sizeof(float));
    if (hidden) memcpy(hidden, t->hidden + r0 * t->d, (size_t)(n * t->d) * sizeof(float));
    return QZ_OK;
}

typedef struct model_ctx {
    qz_train_model *tm;
    qz_train_acts *a;
    qz_distill_scratch *s;
    const int32_t *tokens;
    int64_t B;
    qz_loss_opts lo;
    double hw;
    fixed_teacher *t;
} model_ctx;

static double f_model(void *p)
{
    model_ctx *c = p;
    qz_distill_point pt;
    qz_error err;
    qz_distill_grad(c->tm, c->a, c->s, c->tokens, c->B, &c->lo, c->hw, fixed_rows, c->t, NULL, &pt, &err);
    return pt.loss;
}

/* Whole-model gradient by finite differences: tied embeddings, no biases,
 * KL + CE + hidden loss (the fixture covers untied and biases). */
static void test_model_gradient_fd(void)
{
    enum { B = 2, T = 5, V = 24, D = 8 };
    qz_model *m = NULL;
    qz_error err = {0};
    if (synth_model("fd", tiny_config(V, D, 12, 2, 1, 1, 0), 11, &m, &err)) {
        CHECK(0, "%s", err.msg);
        return;
    }
    qz_train_model *tm = NULL;
    qz_train_acts *a = NULL;
    qz_distill_scratch *s = NULL;
    CHECK(qz_model_reserve(m, T, &err) == 0 && qz_train_model_load(&tm, m, &err) == 0 && qz_train_acts_new(&a, &m->cfg, B, T, &err) == 0 &&
              qz_distill_scratch_new(&s, &m->cfg, &err) == 0,
          "%s", err.msg);
    int32_t tokens[B * T];
    float tl[B * T * V], th[B * T * D];
    qz_rng g;
    qz_rng_seed(&g, 12);
    for (int i = 0; i < B * T; i++) tokens[i] = (int32_t)qz_rng_below(&g, V);
    fill(tl, B * T * V, &g, 0, 2), fill(th, B * T * D, &g, 0, 1);
    fixed_teacher t = {tl, th, V, D};
    model_ctx c = {tm, a, s, tokens, B, {QZ_LOSS_KL, 0.6, 2.0}, 0.2, &t};
    if (tm && a && s) {
        f_model(&c);
        float *grad = malloc((size_t)tm->n_params * sizeof(float));
        memcpy(grad, tm->grads, (size_t)tm->n_params * sizeof(float));
        for (int i = 0; i < tm->n_tensors; i++) {
            const qz_train_tensor *tt = &tm->tensors[i];
            check_fd(tt->name, tm->params + tt->off, tt->numel, tt->numel / 4 + 1, grad + tt->off, f_model, &c);
        }
        free(grad);
    }
    qz_distill_scratch_free(s);
    qz_train_acts_free(a);
    qz_train_model_free(tm);
    qz_model_free(m);
}

/* The gradient of the fixture's untied, biased model for four losses
 * against torch autograd in float64. */
static void test_model_gradient_torch(void)
{
    fx_file f;
    if (fx_open(&f, "model")) return;
    fx_array *cfg = fx_get(&f, "cfg", "i32"), *params = fx_get(&f, "params", "f32"), *tok = fx_get(&f, "tokens", "i32");
    fx_array *tl = fx_get(&f, "teacher_logits", "f32"), *th = fx_get(&f, "teacher_hidden", "f32"), *opts = fx_get(&f, "opts", "f64");
    if (!cfg || !params || !tok || !tl || !th || !opts) {
        CHECK(0, "fixture arrays missing");
        fx_free(&f);
        return;
    }
    const int32_t *k = cfg->data; /* V, D, FF, L, H, KV, B, T */
    qz_model_config c = tiny_config(k[0], k[1], k[2], k[4], k[5], 0, 1);
    c.n_layers = k[3];
    qz_model *m = NULL;
    qz_train_model *tm = NULL;
    qz_train_acts *a = NULL;
    qz_distill_scratch *s = NULL;
    qz_error err = {0};
    int rc = synth_model("torch", c, 1, &m, &err);
    if (rc == 0) rc = qz_model_reserve(m, k[7], &err);
    if (rc == 0) rc = qz_train_model_load(&tm, m, &err);
    if (rc == 0) rc = qz_train_acts_new(&a, &m->cfg, k[6], k[7], &err);
    if (rc == 0) rc = qz_distill_scratch_new(&s, &m->cfg, &err);
    CHECK(rc == 0, "%s", err.msg);
    CHECK(rc || tm->n_params == params->n, "params %lld, fixture %lld", (long long)(tm ? tm->n_params : 0), (long long)params->n);
    fixed_teacher t = {tl->data, th->data, k[0], k[1]};
    for (int i = 0; rc == 0 && tm->n_params == params->n && i < 4; i++) {
        const double *o = (const double *)opts->data + 4 * i;
        char name[16];
        snprintf(name, sizeof name, "loss%d", i);
        fx_array *want_loss = fx_get(&f, name, "f64");
        snprintf(name, sizeof name, "grad%d", i);
        fx_array *want = fx_get(&f, name, "f64");
        memcpy(tm->params, params->data, (size_t)params->n * sizeof(float));
        qz_loss_opts lo = {(qz_loss_kind)o[0], o[1], o[2]};
        qz_distill_point pt;
        rc = qz_distill_grad(tm, a, s, tok->data, k[6], &lo, o[3], fixed_rows, &t, NULL, &pt, &err);
        CHECK(rc == 0 && want && want_loss, "case %d", i);
        if (rc || !want || !want_loss) break;
        CHECK_CLOSE(pt.loss, ((double *)want_loss->data)[0], 1e-6, 1e-5);
        int bad = 0;
        for (int64_t j = 0; j < tm->n_params && bad < 5; j++) {
            double w = ((double *)want->data)[j];
            if (fabs(tm->grads[j] - w) > 2e-6 + 2e-4 * fabs(w)) {
                bad++;
                CHECK(0, "%s: grad[%lld] = %.8g, torch %.8g", qz_loss_name(lo.kind), (long long)j, (double)tm->grads[j], w);
            }
        }
    }
    qz_distill_scratch_free(s);
    qz_train_acts_free(a);
    qz_train_model_free(tm);
    qz_model_free(m);
    fx_free(&f);
}

/* The trainer's logits equal model.c's (qz_eval_hidden + qz_model_head). */
static void test_forward_matches_model(void)
{
    enum { T = 9, V = 40 };
    qz_model *m = NULL;
    qz_error err = {0};
    qz_train_model *tm = NULL;
    qz_train_acts *a = NULL;
    int rc = synth_model("fwd", tiny_config(V, 16, 20, 4, 2, 0, 1), 21, &m, &err);
    if (rc == 0) rc = qz_model_reserve(m, T, &err);
    if (rc == 0) rc = qz_train_model_load(&tm, m, &err);
    if (rc == 0) rc = qz_train_acts_new(&a, &m->cfg, 1, T, &err);
    CHECK(rc == 0, "%s", err.msg);
    if (rc == 0) {
        int32_t tok[T];
        for (int i = 0; i < T; i++) tok[i] = (int32_t)((i * 7 + 3) % V);
        float x[T * 16], want[T * V], got[T * V];
        qz_ppl_opts po = {.seqlen = T};
        CHECK(qz_eval_hidden(m, tok, 1, &po, x, &err) == 0, "%s", err.msg);
        qz_model_head(m, x, T, want);
        qz_train_forward(tm, a, tok, 1);
        qz_train_logits(tm, a, 0, T, got);
        for (int i = 0; i < T * V; i++) CHECK_CLOSE(got[i], want[i], 1e-6, 1e-6);
    }
    qz_train_acts_free(a);
    qz_train_model_free(tm);
    qz_model_free(m);
}

/* -------------------------------------------------------------- optimizer */

static void test_adamw_torch(void)
{
    fx_file f;
    if (fx_open(&f, "adamw")) return;
    fx_array *p0 = fx_get(&f, "p0", "f32"), *g1 = fx_get(&f, "g1", "f32"), *g2 = fx_get(&f, "g2", "f32");
    fx_array *p1 = fx_get(&f, "p1", "f32"), *p2 = fx_get(&f, "p2", "f32"), *hy = fx_get(&f, "hyper", "f64");
    if (p0 && g1 && g2 && p1 && p2 && hy) {
        const double *h = hy->data;
        qz_adamw o = {h[1], h[2], h[3], h[4]};
        int64_t n = p0->n;
        float p[16], m[16] = {0}, v[16] = {0};
        memcpy(p, p0->data, (size_t)n * sizeof(float));
        qz_adamw_step(&o, p, g1->data, m, v, NULL, n, 1, h[0]);
        for (int64_t i = 0; i < n; i++) CHECK_CLOSE(p[i], ((float *)p1->data)[i], 1e-7, 1e-6);
        qz_adamw_step(&o, p, g2->data, m, v, NULL, n, 2, h[0]);
        for (int64_t i = 0; i < n; i++) CHECK_CLOSE(p[i], ((float *)p2->data)[i], 1e-7, 1e-6);
    } else
        CHECK(0, "fixture arrays missing");
    fx_free(&f);
}

/* Decay masked off: p changes by the Adam term alone (step 1: lr * sign(g)). */
static void test_adamw_no_decay(void)
{
    qz_adamw o = {0.9, 0.95, 1e-8, 0.5};
    float p[2] = {1.0f, 1.0f}, g[2] = {0.25f, -4.0f}, m[2] = {0}, v[2] = {0};
    uint8_t decay[2] = {0, 1};
    qz_adamw_step(&o, p, g, m, v, decay, 2, 1, 0.1);
    CHECK_CLOSE(p[0], 1.0 - 0.1, 1e-6, 0);               /* m^/sqrt(v^) = sign(g) at step 1 */
    CHECK_CLOSE(p[1], 1.0 * (1 - 0.1 * 0.5) + 0.1, 1e-6, 0); /* decayed first, then the Adam step */
}

static void test_schedule_and_clip(void)
{
    CHECK_CLOSE(qz_lr_at(QZ_SCHEDULE_COSINE, 1.0, 0.1, 2, 0, 12), 0.5, 1e-12, 0);
    CHECK_CLOSE(qz_lr_at(QZ_SCHEDULE_COSINE, 1.0, 0.1, 2, 1, 12), 1.0, 1e-12, 0);
    CHECK_CLOSE(qz_lr_at(QZ_SCHEDULE_COSINE, 1.0, 0.1, 2, 2, 12), 1.0, 1e-12, 0);
    CHECK_CLOSE(qz_lr_at(QZ_SCHEDULE_COSINE, 1.0, 0.1, 2, 7, 12), 0.55, 1e-12, 0); /* halfway: 0.1 + 0.9 / 2 */
    CHECK_CLOSE(qz_lr_at(QZ_SCHEDULE_CONSTANT, 2.0, 0.1, 4, 1, 12), 1.0, 1e-12, 0);
    CHECK_CLOSE(qz_lr_at(QZ_SCHEDULE_CONSTANT, 2.0, 0.1, 4, 9, 12), 2.0, 1e-12, 0);
    float g[2] = {3, 4};
    CHECK_CLOSE(qz_grad_norm(g, 2), 5.0, 1e-12, 0);
    CHECK_CLOSE(qz_grad_clip(g, 2, 5.0, 1.0), 0.2, 1e-12, 0);
    CHECK_CLOSE(g[0], 0.6, 1e-7, 0);
    CHECK_CLOSE(g[1], 0.8, 1e-7, 0);
    CHECK_CLOSE(qz_grad_clip(g, 2, 1.0, 2.0), 1.0, 0, 0);
}

/* ------------------------------------------------------- trainer, resume */

static qz_distill *make_trainer(qz_model *t, qz_model *s, const int32_t *tok, int64_t n, qz_error *err)
{
    qz_distill_opts o = qz_distill_defaults();
    o.seqlen = 8, o.batch = 2, o.steps = 6, o.warmup = 2, o.lr = 1e-2;
    o.loss = (qz_loss_opts){QZ_LOSS_JSD, 0.5, 2.0};
    qz_distill *d = NULL;
    return qz_distill_new(&d, t, s, tok, n, &o, err) ? NULL : d;
}

static void run_steps(qz_distill *d, int n, qz_error *err)
{
    qz_distill_point pt;
    for (int i = 0; i < n; i++) CHECK(qz_distill_step(d, &pt, err) == 0, "%s", err->msg);
}

/* 6 steps straight = 3 steps, save, a fresh trainer loads, 3 more; loss falls. */
static void test_resume_identical(void)
{
    enum { V = 30, N = 300 };
    qz_model *t = NULL, *s = NULL;
    qz_error err = {0};
    int rc = synth_model("teacher", tiny_config(V, 16, 24, 4, 2, 1, 0), 31, &t, &err);
    if (rc == 0) rc = synth_model("student", tiny_config(V, 8, 12, 2, 1, 1, 0), 32, &s, &err);
    CHECK(rc == 0, "%s", err.msg);
    if (rc) return;
    int32_t tok[N];
    for (int i = 0; i < N; i++) tok[i] = (int32_t)((i * i + 3 * i) % V);
    qz_distill *a = make_trainer(t, s, tok, N, &err), *b = make_trainer(t, s, tok, N, &err), *c = NULL;
    CHECK(a && b, "%s", err.msg);
    char path[700];
    snprintf(path, sizeof path, "%s/ckpt", tmpdir);
    if (a && b) {
        run_steps(a, 6, &err);
        run_steps(b, 3, &err);
        CHECK(qz_distill_save(b, path, &err) == 0, "%s", err.msg);
        c = make_trainer(t, s, tok, N, &err);
        CHECK(c && qz_distill_load(c, path, &err) == 0, "%s", err.msg);
        if (c) run_steps(c, 3, &err);
        const qz_train_model *ma = qz_distill_student(a), *mc = c ? qz_distill_student(c) : NULL;
        CHECK(mc && memcmp(ma->params, mc->params, (size_t)ma->n_params * sizeof(float)) == 0, "resumed weights differ");
        int64_t na, nc = 0;
        const qz_distill_point *ca = qz_distill_curve(a, &na), *cc = c ? qz_distill_curve(c, &nc) : NULL;
        CHECK(na == 6 && nc == 6 && memcmp(ca, cc, 6 * sizeof *ca) == 0, "curves differ");
        CHECK(ca[5].loss < ca[0].loss, "loss did not fall: %g -> %g", ca[0].loss, ca[5].loss);
        /* another option set refuses the file */
        qz_distill_opts o = qz_distill_defaults();
        o.seqlen = 8, o.batch = 2, o.steps = 6, o.warmup = 2, o.lr = 2e-2;
        qz_distill *e = NULL;
        CHECK(qz_distill_new(&e, t, s, tok, N, &o, &err) == 0 && qz_distill_load(e, path, &err) == QZ_EINPUT, "other lr accepted");
        qz_distill_free(e);
    }
    qz_distill_free(a), qz_distill_free(b), qz_distill_free(c);
    qz_model_free(t), qz_model_free(s);
}

/* A top-k cache with k = vocab trains as the teacher itself does; another
 * run's windows are refused. */
static void test_teacher_cache(void)
{
    enum { V = 30, N = 300 };
    qz_model *t = NULL, *s = NULL;
    qz_error err = {0};
    int rc = synth_model("teacher_c", tiny_config(V, 16, 24, 4, 2, 1, 0), 51, &t, &err);
    if (rc == 0) rc = synth_model("student_c", tiny_config(V, 8, 12, 2, 1, 1, 0), 52, &s, &err);
    CHECK(rc == 0, "%s", err.msg);
    if (rc) return;
    int32_t tok[N];
    for (int i = 0; i < N; i++) tok[i] = (int32_t)((i * i + 5 * i) % V);
    qz_distill_opts o = qz_distill_defaults();
    o.seqlen = 8, o.batch = 2, o.steps = 3, o.warmup = 1, o.lr = 1e-2, o.loss.alpha = 0.7;
    qz_distill *a = NULL, *b = NULL, *c = NULL;
    char path[700];
    snprintf(path, sizeof path, "%s/teacher.topk", tmpdir);
    CHECK(qz_distill_new(&a, t, s, tok, N, &o, &err) == 0 && qz_distill_new(&b, t, s, tok, N, &o, &err) == 0, "%s", err.msg);
    CHECK(a && b && qz_distill_write_cache(b, path, V, "teacher", &err) == 0 && qz_distill_use_cache(b, path, &err) == 0, "%s", err.msg);
    if (a && b) {
        run_steps(a, 3, &err);
        run_steps(b, 3, &err);
        const qz_train_model *ma = qz_distill_student(a), *mb = qz_distill_student(b);
        double worst = 0;
        for (int64_t i = 0; i < ma->n_params; i++) worst = fmax(worst, fabs((double)ma->params[i] - mb->params[i]));
        CHECK(worst < 1e-5, "cached teacher: max |weight difference| %g", worst);
    }
    o.seed = 9;
    CHECK(qz_distill_new(&c, t, s, tok, N, &o, &err) == 0 && qz_distill_use_cache(c, path, &err) == QZ_EINPUT &&
              strstr(err.msg, "not of this run"),
          "%s", err.msg);
    qz_distill_free(a), qz_distill_free(b), qz_distill_free(c);
    qz_model_free(t), qz_model_free(s);
}

static void test_bad_pairs(void)
{
    qz_model *t = NULL, *s = NULL;
    qz_error err = {0};
    int rc = synth_model("t2", tiny_config(30, 16, 24, 4, 2, 1, 0), 41, &t, &err);
    if (rc == 0) rc = synth_model("s2", tiny_config(31, 16, 24, 4, 2, 1, 0), 42, &s, &err);
    CHECK(rc == 0, "%s", err.msg);
    int32_t tok[20] = {0};
    qz_distill_opts o = qz_distill_defaults();
    o.seqlen = 8, o.batch = 1;
    qz_distill *d = NULL;
    CHECK(rc || (qz_distill_new(&d, t, s, tok, 20, &o, &err) == QZ_EINPUT && strstr(err.msg, "vocabulary")), "%s", err.msg);
    CHECK(rc || (qz_distill_new(&d, t, t, tok, 8, &o, &err) == QZ_EINPUT && strstr(err.msg, "shorter than one window")), "%s", err.msg);
    qz_model_free(t), qz_model_free(s);
}

int main(int argc, char **argv)
{
    (void)argc;
    fx_init(argv[0], "train", "scripts/gen_train_fixture.py");
    qzt_tmpdir(tmpdir, sizeof tmpdir, "train");
    QZ_RUN(test_rmsnorm_backward);
    QZ_RUN(test_linear_backward);
    QZ_RUN(test_rope_backward);
    QZ_RUN(test_attention_backward);
    QZ_RUN(test_swiglu_backward);
    QZ_RUN(test_loss_gradients);
    QZ_RUN(test_loss_topk);
    QZ_RUN(test_model_gradient_fd);
    QZ_RUN(test_model_gradient_torch);
    QZ_RUN(test_forward_matches_model);
    QZ_RUN(test_adamw_torch);
    QZ_RUN(test_adamw_no_decay);
    QZ_RUN(test_schedule_and_clip);
    QZ_RUN(test_resume_identical);
    QZ_RUN(test_teacher_cache);
    QZ_RUN(test_bad_pairs);
    qzt_rmdir(tmpdir);
    QZ_TEST_EXIT();
}
