/* kernels.c - vectorized elementwise kernels, the flash-style attention and
 * the worker threads of the forward pass (see kernels.h).
 *
 * Vectorization: the fast kernels are plain loops with independent lanes
 * (sums kept in QZ_LANES partial accumulators, combined in a fixed order),
 * compiled with -O3 (Makefile) once per target of QZ_CLONES; glibc's ifunc
 * picks the best one for the CPU at load time. -ffp-contract=off holds in
 * every clone, so AVX-512 and AVX2 clones give the same bytes.
 * Attention follows FlashAttention (Dao et al. 2022, Algorithm 1): per query
 * row a running maximum m and sum l; a key tile's scores S give
 * m' = max(m, max S), P = exp(S - m'), l = l exp(m - m') + sum P,
 * O = O exp(m - m') + P V; at the end O / l.
 */
#include "kernels.h"

#include "qz_common.h"

#include <cblas.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define QZ_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define QZ_CLONES
#endif

#define QZ_LANES 16

/* ---------------------------------------------------------------- threads */

static atomic_int thread_setting;

int qz_threads(void)
{
    int n = atomic_load(&thread_setting);
    if (n <= 0) n = openblas_get_num_threads();
    return n < 1 ? 1 : n > QZ_MAX_THREADS ? QZ_MAX_THREADS : n;
}

void qz_set_threads(int n) { atomic_store(&thread_setting, n); }

typedef struct {
    qz_task_fn fn;
    void *ctx;
    int64_t n_tasks;
    atomic_llong next; /* tasks are claimed in order; which worker runs one does not change its result */
} task_queue;

typedef struct {
    task_queue *q;
    int worker;
} worker_arg;

static void drain(task_queue *q, int worker)
{
    for (int64_t t; (t = atomic_fetch_add(&q->next, 1)) < q->n_tasks;) q->fn(q->ctx, t, worker);
}

static void *worker_main(void *p)
{
    worker_arg *a = p;
    drain(a->q, a->worker);
    return NULL;
}

void qz_parallel_for(int64_t n_tasks, int workers, qz_task_fn fn, void *ctx)
{
    task_queue q = {fn, ctx, n_tasks, 0};
    int n = workers < 1 ? 1 : workers > QZ_MAX_THREADS ? QZ_MAX_THREADS : workers;
    if (n > n_tasks) n = (int)(n_tasks > 0 ? n_tasks : 1);
    pthread_t tid[QZ_MAX_THREADS];
    worker_arg args[QZ_MAX_THREADS];
    int started = 1;
    for (int w = 1; w < n; w++, started++) {
        args[w] = (worker_arg){&q, w};
        if (pthread_create(&tid[w], NULL, worker_main, &args[w]) != 0) break; /* fewer workers: same results */
    }
    drain(&q, 0);
    for (int w = 1; w < started; w++) pthread_join(tid[w], NULL);
}

/* ------------------------------------------------------------------ spans */

/* The elementwise passes below are memory-bound and take a fraction of a
 * millisecond at real shapes, so they are split into one contiguous span
 * per worker only when each span has at least SPAN_MIN_FLOATS (256 KiB);
 * smaller ones run on the caller. Every element or row is computed by the
 * same code whatever the split, so the bytes do not depend on it. */
#define SPAN_MIN_FLOATS 65536

typedef void (*span_fn)(void *ctx, int64_t begin, int64_t end);
typedef struct {
    span_fn fn;
    void *ctx;
    int64_t n, per;
} span_job;

static void span_task(void *ctx, int64_t task, int worker)
{
    (void)worker;
    const span_job *j = ctx;
    int64_t b = task * j->per, e = b + j->per < j->n ? b + j->per : j->n;
    j->fn(j->ctx, b, e);
}

/* fn over [0, n) units of unit_floats floats each. */
static void parallel_spans(int64_t n, int64_t unit_floats, span_fn fn, void *ctx)
{
    int64_t tasks = n * unit_floats / SPAN_MIN_FLOATS, workers = qz_threads();
    if (tasks > workers) tasks = workers;
    if (tasks <= 1) {
        fn(ctx, 0, n);
        return;
    }
    span_job j = {fn, ctx, n, (n + tasks - 1) / tasks};
    qz_parallel_for(tasks, (int)tasks, span_task, &j);
}

/* ------------------------------------------------------------ elementwise */

/* exp(x) for x <= 0 without libm's special-case paths: x = n ln2 + r with
 * |r| <= ln2/2, exp(r) by Cephes' degree-6 minimax polynomial (max error
 * about 2 ulp), 2^n added into the exponent bits; n read from the rounding
 * constant's mantissa, so no float-to-int conversion. x < -87 gives
 * exp(-87) (1.6e-38), not 0: irrelevant next to a row maximum's exp(0). */
static inline float exp_nonpos(float x)
{
    float xc = x < -87.0f ? -87.0f : x;
    float t = xc * 1.44269504f + 12582912.0f; /* 1.5*2^23: round to nearest integer */
    float n = t - 12582912.0f;
    float r = xc - n * 0.693359375f - n * -2.12194440e-4f;
    float z = r * r;
    float p = (((((1.9875691500e-4f * r + 1.3981999507e-3f) * r + 8.3334519073e-3f) * r + 4.1665795894e-2f) * r +
                1.6666665459e-1f) * r + 5.0000001201e-1f) * z + r + 1.0f;
    int32_t tb, pb;
    memcpy(&tb, &t, sizeof tb);
    memcpy(&pb, &p, sizeof pb);
    pb += (int32_t)((uint32_t)(tb - 0x4B400000) << 23); /* tb - bits(1.5*2^23) = n */
    memcpy(&p, &pb, sizeof p);
    return x != x ? x : p; /* NaN scores stay NaN: the caller must see them */
}

QZ_CLONES void qz_exp_nonpos_row(float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++) x[i] = exp_nonpos(x[i]);
}

/* An in-place pass over x with a second operand y (the add, SwiGLU). */
typedef struct {
    float *x;
    const float *y;
} xy_args;

QZ_CLONES static void add_span(void *ctx, int64_t b, int64_t e)
{
    const xy_args *a = ctx;
    float *x = a->x;
    const float *y = a->y;
    for (int64_t i = b; i < e; i++) x[i] += y[i];
}

void qz_add(float *x, const float *y, int64_t n)
{
    xy_args a = {x, y};
    parallel_spans(n, 1, add_span, &a);
}

/* A NaN or Inf has every exponent bit set: tested on the bits, a chunk of
 * QZ_FINITE_CHUNK at a time in integer lanes, then the flagged chunk is
 * scanned for the index. */
#define QZ_FINITE_CHUNK 256
QZ_CLONES int64_t qz_first_nonfinite(const float *x, int64_t n)
{
    for (int64_t i0 = 0; i0 < n; i0 += QZ_FINITE_CHUNK) {
        int64_t m = n - i0 < QZ_FINITE_CHUNK ? n - i0 : QZ_FINITE_CHUNK;
        uint32_t bad = 0;
        for (int64_t i = 0; i < m; i++) {
            uint32_t u;
            memcpy(&u, x + i0 + i, sizeof u);
            bad |= (uint32_t)((u & 0x7f800000u) == 0x7f800000u);
        }
        if (bad) return i0 + qz_first_nonfinite_ref(x + i0, m);
    }
    return -1;
}

int64_t qz_first_nonfinite_ref(const float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return i;
    return -1;
}

/* sum of x[i]^2 in double, QZ_LANES partial sums. */
static inline double sumsq_lanes(const float *x, int64_t n)
{
    double acc[QZ_LANES] = {0};
    int64_t i = 0;
    for (; i + QZ_LANES <= n; i += QZ_LANES)
        for (int j = 0; j < QZ_LANES; j++) acc[j] += (double)x[i + j] * (double)x[i + j];
    double s = 0;
    for (; i < n; i++) s += (double)x[i] * (double)x[i];
    for (int j = 0; j < QZ_LANES; j++) s += acc[j];
    return s;
}

typedef struct {
    float *y, *rstd;
    const float *x, *w;
    int64_t dim;
    double eps;
} rmsnorm_args;

QZ_CLONES static void rmsnorm_span(void *ctx, int64_t b, int64_t e)
{
    const rmsnorm_args *a = ctx;
    const float *x = a->x, *w = a->w;
    float *y = a->y, *rstd = a->rstd;
    int64_t dim = a->dim;
    for (int64_t r = b; r < e; r++) {
        const float *xr = x + r * dim;
        float inv = (float)(1.0 / sqrt(sumsq_lanes(xr, dim) / (double)dim + a->eps));
        if (rstd) rstd[r] = inv;
        float *yr = y + r * dim;
        for (int64_t i = 0; i < dim; i++) yr[i] = w[i] * (xr[i] * inv);
    }
}

void qz_rmsnorm_rstd(float *y, float *rstd, const float *x, const float *w, int64_t n, int64_t dim, double eps)
{
    rmsnorm_args a = {y, rstd, x, w, dim, eps};
    parallel_spans(n, dim, rmsnorm_span, &a);
}

void qz_rmsnorm(float *y, const float *x, const float *w, int64_t n, int64_t dim, double eps)
{
    qz_rmsnorm_rstd(y, NULL, x, w, n, dim, eps);
}

void qz_rmsnorm_ref(float *y, const float *x, const float *w, int64_t n, int64_t dim, double eps)
{
    for (int64_t r = 0; r < n; r++) {
        const float *xr = x + r * dim;
        double ss = 0;
        for (int64_t i = 0; i < dim; i++) ss += (double)xr[i] * xr[i];
        float inv = (float)(1.0 / sqrt(ss / (double)dim + eps));
        for (int64_t i = 0; i < dim; i++) y[r * dim + i] = w[i] * (xr[i] * inv);
    }
}

/* silu(g) = g sigmoid(g), sigmoid from e = exp(-|g|) <= 1 so that the
 * polynomial exp serves: sigmoid = 1/(1+e) for g >= 0, e/(1+e) below. */
QZ_CLONES static void swiglu_span(void *ctx, int64_t b, int64_t e)
{
    const xy_args *a = ctx; /* x: the gate, y: up */
    float *g = a->x;
    const float *up = a->y;
    for (int64_t i = b; i < e; i++) {
        float x = g[i], ex = exp_nonpos(-fabsf(x));
        float sig = (x >= 0.0f ? 1.0f : ex) / (1.0f + ex);
        g[i] = x * sig * up[i];
    }
}

void qz_swiglu(float *g, const float *up, int64_t n)
{
    xy_args a = {g, up};
    parallel_spans(n, 1, swiglu_span, &a);
}

void qz_swiglu_ref(float *g, const float *up, int64_t n)
{
    for (int64_t i = 0; i < n; i++) g[i] = g[i] / (1.0f + expf(-g[i])) * up[i];
}

typedef struct {
    float *x;
    int64_t T, n_heads, hd;
    const float *cs, *sn;
} rope_args;

QZ_CLONES static void rope_span(void *ctx, int64_t rb, int64_t re)
{
    const rope_args *p = ctx;
    float *x = p->x;
    int64_t T = p->T, n_heads = p->n_heads, hd = p->hd, half = hd / 2;
    for (int64_t r = rb; r < re; r++) {
        const float *c = p->cs + (r % T) * half, *s = p->sn + (r % T) * half;
        for (int64_t h = 0; h < n_heads; h++) {
            float *a = x + (r * n_heads + h) * hd, *b = a + half;
            for (int64_t i = 0; i < half; i++) {
                float ai = a[i], bi = b[i];
                a[i] = ai * c[i] - bi * s[i];
                b[i] = bi * c[i] + ai * s[i];
            }
        }
    }
}

void qz_rope(float *x, int64_t n_seq, int64_t T, int64_t n_heads, int64_t hd, const float *cs, const float *sn)
{
    rope_args a = {x, T, n_heads, hd, cs, sn};
    parallel_spans(n_seq * T, n_heads * hd, rope_span, &a);
}

void qz_rope_ref(float *x, int64_t n_seq, int64_t T, int64_t n_heads, int64_t hd, const float *cs, const float *sn)
{
    int64_t half = hd / 2;
    for (int64_t r = 0; r < n_seq * T; r++)
        for (int64_t h = 0; h < n_heads; h++)
            for (int64_t i = 0; i < half; i++) {
                float *v = x + (r * n_heads + h) * hd;
                float a = v[i], b = v[i + half], c = cs[(r % T) * half + i], s = sn[(r % T) * half + i];
                v[i] = a * c - b * s;
                v[i + half] = b * c + a * s;
            }
}

/* max of x[0..n), n >= 1; NaN-blind (a NaN then shows in the sum). */
static inline float row_max(const float *x, int64_t n)
{
    float acc[QZ_LANES];
    for (int j = 0; j < QZ_LANES; j++) acc[j] = x[0];
    int64_t i = 0;
    for (; i + QZ_LANES <= n; i += QZ_LANES)
        for (int j = 0; j < QZ_LANES; j++) acc[j] = x[i + j] > acc[j] ? x[i + j] : acc[j];
    float mx = x[0];
    for (; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    for (int j = 0; j < QZ_LANES; j++) mx = acc[j] > mx ? acc[j] : mx;
    return mx;
}

/* sum_i exp(x[i] - mx), blocks of 256 exponentials summed in float lanes,
 * the blocks in double. */
static inline double sum_exp_shifted(const float *x, int64_t n, float mx)
{
    double total = 0;
    for (int64_t b0 = 0; b0 < n; b0 += 256) {
        int64_t m = n - b0 < 256 ? n - b0 : 256;
        float acc[QZ_LANES] = {0}, tail = 0;
        int64_t i = 0;
        for (; i + QZ_LANES <= m; i += QZ_LANES)
            for (int j = 0; j < QZ_LANES; j++) acc[j] += exp_nonpos(x[b0 + i + j] - mx);
        for (; i < m; i++) tail += exp_nonpos(x[b0 + i] - mx);
        for (int j = 0; j < QZ_LANES; j++) tail += acc[j];
        total += tail;
    }
    return total;
}

QZ_CLONES double qz_logsumexp(const float *x, int64_t n)
{
    float mx = row_max(x, n);
    return log(sum_exp_shifted(x, n, mx)) + mx;
}

double qz_logsumexp_ref(const float *x, int64_t n)
{
    float mx = x[0];
    for (int64_t i = 1; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    double sum = 0;
    for (int64_t i = 0; i < n; i++) sum += expf(x[i] - mx);
    return log(sum) + mx;
}

typedef struct {
    const float *logits;
    int64_t n, vocab;
    const int32_t *next;
    double *nll;
} nll_ctx;

#define NLL_ROWS_PER_TASK 8

static void nll_task(void *ctx, int64_t task, int worker)
{
    (void)worker;
    const nll_ctx *c = ctx;
    int64_t end = (task + 1) * NLL_ROWS_PER_TASK < c->n ? (task + 1) * NLL_ROWS_PER_TASK : c->n;
    for (int64_t r = task * NLL_ROWS_PER_TASK; r < end; r++) {
        const float *row = c->logits + r * c->vocab;
        c->nll[r] = qz_logsumexp(row, c->vocab) - (double)row[c->next[r]];
    }
}

void qz_nll_rows(const float *logits, int64_t n, int64_t vocab, const int32_t *next, double *nll)
{
    nll_ctx c = {logits, n, vocab, next, nll};
    qz_parallel_for((n + NLL_ROWS_PER_TASK - 1) / NLL_ROWS_PER_TASK, qz_threads(), nll_task, &c);
}

/* -------------------------------------------------------------- attention */

int64_t qz_attention_work(const qz_attn_shape *sh)
{
    int64_t rows = QZ_ATTN_TILE * (sh->n_heads / sh->n_kv);
    return rows * (2 * sh->hd + QZ_ATTN_TILE + 2);
}

typedef struct {
    const qz_attn_shape *sh;
    const float *q, *k, *v;
    float *out, *work;
    int64_t n_qt; /* query tiles per sequence */
    float scale;
} attn_ctx;

/* One query tile of every head of a kv group, stacked as rows r = j*nq + i
 * (head j of the group, query q0 + i), so that each key tile is one sgemm
 * for the whole group. */
typedef struct {
    float *qp;    /* (rows, hd) the group's scaled queries */
    float *o;     /* (rows, hd) unnormalized output */
    float *s;     /* (rows, QZ_ATTN_TILE) scores, then probabilities */
    float *m, *l; /* (rows) running max and sum */
    int64_t q0, nq, rows;
} tile_state;

/* Visible keys [lo, hi] of query t (hi inclusive). */
static inline void visible(const qz_attn_shape *sh, int64_t t, int64_t *lo, int64_t *hi)
{
    *lo = sh->window > 0 && t >= sh->window ? t - sh->window + 1 : 0;
    *hi = t;
}

/* x[i] <- exp(x[i] - mx), returning their sum (float lanes). */
static inline float exp_shifted_inplace(float *x, int64_t n, float mx)
{
    float acc[QZ_LANES] = {0}, sum = 0;
    int64_t i = 0;
    for (; i + QZ_LANES <= n; i += QZ_LANES)
        for (int j = 0; j < QZ_LANES; j++) acc[j] += x[i + j] = exp_nonpos(x[i + j] - mx);
    for (; i < n; i++) sum += x[i] = exp_nonpos(x[i] - mx);
    for (int j = 0; j < QZ_LANES; j++) sum += acc[j];
    return sum;
}

/* Online-softmax update of every row with the scores of keys [k0, k0+nk). */
QZ_CLONES static void softmax_update(const qz_attn_shape *sh, tile_state *ts, int64_t k0, int64_t nk)
{
    for (int64_t r = 0; r < ts->rows; r++) {
        float *srow = ts->s + r * QZ_ATTN_TILE, *orow = ts->o + r * sh->hd;
        int64_t lo, hi;
        visible(sh, ts->q0 + r % ts->nq, &lo, &hi);
        int64_t a = lo > k0 ? lo - k0 : 0, b = hi - k0 + 1 < nk ? hi - k0 + 1 : nk; /* visible columns [a, b) */
        if (a >= b) {
            memset(srow, 0, (size_t)nk * sizeof(float));
            continue;
        }
        float mx = row_max(srow + a, b - a), m_new = mx > ts->m[r] ? mx : ts->m[r];
        float corr = ts->m[r] == -INFINITY ? 0.0f : exp_nonpos(ts->m[r] - m_new);
        float sum = exp_shifted_inplace(srow + a, b - a, m_new);
        memset(srow, 0, (size_t)a * sizeof(float));
        memset(srow + b, 0, (size_t)(nk - b) * sizeof(float));
        ts->l[r] = ts->l[r] * corr + sum;
        ts->m[r] = m_new;
        if (corr != 1.0f)
            for (int64_t d = 0; d < sh->hd; d++) orow[d] *= corr;
    }
}

/* Packs the group's queries (times the softmax scale) and resets the state. */
static void tile_begin(const attn_ctx *c, tile_state *ts, int64_t n, int64_t g)
{
    const qz_attn_shape *sh = c->sh;
    int64_t hd = sh->hd, qd = sh->n_heads * hd, group = sh->n_heads / sh->n_kv;
    for (int64_t j = 0; j < group; j++)
        for (int64_t i = 0; i < ts->nq; i++) {
            const float *src = c->q + (n * sh->T + ts->q0 + i) * qd + (g * group + j) * hd;
            float *dst = ts->qp + (j * ts->nq + i) * hd;
            for (int64_t d = 0; d < hd; d++) dst[d] = src[d] * c->scale;
        }
    memset(ts->o, 0, (size_t)(ts->rows * hd) * sizeof(float));
    for (int64_t r = 0; r < ts->rows; r++) ts->m[r] = -INFINITY, ts->l[r] = 0;
}

/* O / l into the output rows of each head. */
static void tile_end(const attn_ctx *c, const tile_state *ts, int64_t n, int64_t g)
{
    const qz_attn_shape *sh = c->sh;
    int64_t hd = sh->hd, qd = sh->n_heads * hd, group = sh->n_heads / sh->n_kv;
    for (int64_t r = 0; r < ts->rows; r++) {
        float inv = 1.0f / ts->l[r];
        float *dst = c->out + (n * sh->T + ts->q0 + r % ts->nq) * qd + (g * group + r / ts->nq) * hd;
        for (int64_t d = 0; d < hd; d++) dst[d] = ts->o[r * hd + d] * inv;
    }
}

/* Task: (sequence, kv head, query tile), the longest (last) tiles first so
 * that the workers finish together. */
static void attn_task(void *ctx, int64_t task, int worker)
{
    const attn_ctx *c = ctx;
    const qz_attn_shape *sh = c->sh;
    int64_t qt = c->n_qt - 1 - task % c->n_qt, g = task / c->n_qt % sh->n_kv, n = task / (c->n_qt * sh->n_kv);
    int64_t hd = sh->hd, kvd = sh->n_kv * hd, rows_max = QZ_ATTN_TILE * (sh->n_heads / sh->n_kv);
    float *w = c->work + worker * qz_attention_work(sh);
    tile_state ts = {w, w + rows_max * hd, w + 2 * rows_max * hd, w + rows_max * (2 * hd + QZ_ATTN_TILE),
                     w + rows_max * (2 * hd + QZ_ATTN_TILE + 1), qt * QZ_ATTN_TILE, 0, 0};
    ts.nq = sh->T - ts.q0 < QZ_ATTN_TILE ? sh->T - ts.q0 : QZ_ATTN_TILE;
    ts.rows = ts.nq * (sh->n_heads / sh->n_kv);
    tile_begin(c, &ts, n, g);
    int64_t lo, hi;
    visible(sh, ts.q0, &lo, &hi);
    for (int64_t k0 = lo / QZ_ATTN_TILE * QZ_ATTN_TILE; k0 < ts.q0 + ts.nq; k0 += QZ_ATTN_TILE) {
        int64_t nk = sh->T - k0 < QZ_ATTN_TILE ? sh->T - k0 : QZ_ATTN_TILE;
        const float *K = c->k + (n * sh->T + k0) * kvd + g * hd, *V = c->v + (n * sh->T + k0) * kvd + g * hd;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)ts.rows, (int)nk, (int)hd, 1.0f, ts.qp, (int)hd, K, (int)kvd,
                    0.0f, ts.s, QZ_ATTN_TILE);
        softmax_update(sh, &ts, k0, nk);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)ts.rows, (int)hd, (int)nk, 1.0f, ts.s, QZ_ATTN_TILE, V,
                    (int)kvd, 1.0f, ts.o, (int)hd);
    }
    tile_end(c, &ts, n, g);
}

void qz_attention(const qz_attn_shape *sh, const float *q, const float *k, const float *v, float *out, float *work, int workers)
{
    QZ_ASSERT(sh->n_heads % sh->n_kv == 0 && workers >= 1);
    attn_ctx c = {sh, q, k, v, out, work, (sh->T + QZ_ATTN_TILE - 1) / QZ_ATTN_TILE, (float)(1.0 / sqrt((double)sh->hd))};
    /* The workers run the tiles' sgemms themselves: OpenBLAS single-threaded
     * meanwhile. Their count is taken first, as qz_threads() may follow BLAS. */
    int n = qz_threads() < workers ? qz_threads() : workers, blas = openblas_get_num_threads();
    openblas_set_num_threads(1);
    qz_parallel_for(sh->n_seq * sh->n_kv * c.n_qt, n, attn_task, &c);
    openblas_set_num_threads(blas);
}

void qz_attention_ref(const qz_attn_shape *sh, const float *q, const float *k, const float *v, float *out)
{
    int64_t hd = sh->hd, qd = sh->n_heads * hd, kvd = sh->n_kv * hd, group = sh->n_heads / sh->n_kv;
    float scale = (float)(1.0 / sqrt((double)hd));
    float *p = qz_malloc_array((size_t)sh->T, sizeof(float));
    QZ_ASSERT(p);
    for (int64_t n = 0; n < sh->n_seq; n++)
        for (int64_t h = 0; h < sh->n_heads; h++)
            for (int64_t t = 0; t < sh->T; t++) {
                const float *qr = q + (n * sh->T + t) * qd + h * hd;
                int64_t lo, hi;
                visible(sh, t, &lo, &hi);
                float mx = -INFINITY;
                for (int64_t j = lo; j <= hi; j++) {
                    const float *kr = k + (n * sh->T + j) * kvd + h / group * hd;
                    float s = 0;
                    for (int64_t d = 0; d < hd; d++) s += qr[d] * kr[d];
                    p[j] = s * scale;
                    mx = p[j] > mx ? p[j] : mx;
                }
                double sum = 0;
                for (int64_t j = lo; j <= hi; j++) sum += p[j] = expf(p[j] - mx);
                float *o = out + (n * sh->T + t) * qd + h * hd;
                for (int64_t d = 0; d < hd; d++) {
                    double acc = 0;
                    for (int64_t j = lo; j <= hi; j++) acc += (double)p[j] * v[(n * sh->T + j) * kvd + h / group * hd + d];
                    o[d] = (float)(acc / sum);
                }
            }
    free(p);
}
