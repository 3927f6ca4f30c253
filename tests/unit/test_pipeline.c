/* test_pipeline.c - the layer-wise pass (pipeline.c) against a plain
 * re-implementation of the reference order (GPTQ's llama.py: every stage
 * runs the whole layer over each sample, one sample at a time, then the
 * stage's linears are transformed; a last whole-layer pass gives the next
 * input), for true-sequential and one-stage methods: every observed input
 * and the final hidden states agree, with the true-sequential cache and
 * without it (QZ_PIPELINE_CACHE_MIB=0), and the two give the same bytes
 * over several forward groups. And the forward pass gives the same bytes
 * for 1 and 3 worker threads.
 *
 * Tolerance 2e-5 relative + 2e-6 absolute: the pipeline runs sgemm over
 * groups of samples where the reference runs one sample at a time, and
 * OpenBLAS's last bits depend on the row count (two layers of float
 * rounding on activations of size ~1).
 */
#include "pipeline.h"
#include "qz_test.h"
#include "rng.h"
#include "synth.h"

#define NS 5
#define T 40

static const qz_model_config tiny = {.arch = QZ_ARCH_LLAMA, .hidden = 32, .intermediate = 48, .n_layers = 2, .n_heads = 4,
                                     .n_kv_heads = 2, .head_dim = 8, .vocab = 64, .max_position = 256, .rms_eps = 1e-5,
                                     .rope_theta = 10000, .bos_id = 1, .eos_id = 2, .torch_dtype = QZ_DTYPE_F32};

/* Records every observed input in call order per site (the order observers
 * may rely on); transforms by w <- 0.75 w + 0.01. */
typedef struct {
    float *log[QZ_SITE_COUNT];
    int64_t n[QZ_SITE_COUNT], cap;
} recorder;

static void rec_observe(void *ctx, const qz_layer *L, qz_site site, const float *x, int64_t n_tok)
{
    (void)L;
    recorder *r = ctx;
    int64_t dim = site == QZ_SITE_DOWN_IN ? tiny.intermediate : tiny.hidden;
    QZ_ASSERT(n_tok == T && r->n[site] + n_tok * dim <= r->cap);
    memcpy(r->log[site] + r->n[site], x, (size_t)(n_tok * dim) * sizeof(float));
    r->n[site] += n_tok * dim;
}

static int rec_transform(void *ctx, qz_layer *L, const qz_linear_id *ids, int n, qz_error *err)
{
    (void)ctx, (void)err;
    for (int i = 0; i < n; i++) {
        qz_linear *l = &L->lin[ids[i]];
        for (int64_t j = 0; j < l->out * l->in; j++) l->w[j] = 0.75f * l->w[j] + 0.01f;
    }
    return QZ_OK;
}

/* Observes nothing: a method that observes takes the staged path. */
static void no_observe(void *ctx, const qz_layer *L, qz_site site, const float *x, int64_t n_tok)
{
    (void)ctx, (void)L, (void)site, (void)x, (void)n_tok;
}

typedef struct {
    recorder *r;
    const qz_site *sites;
    int n_sites;
} ref_filter;

static void ref_observe(void *ctx, const qz_layer *L, qz_site site, const float *x, int64_t n_tok)
{
    const ref_filter *f = ctx;
    for (int i = 0; i < f->n_sites; i++)
        if (f->sites[i] == site) rec_observe(f->r, L, site, x, n_tok);
}

/* The reference order, written out with nothing shared with pipeline.c but
 * qz_layer_forward on one sample at a time. */
static int reference_run(qz_model *m, const int32_t *ids, int true_seq, recorder *r, float *x, qz_error *err)
{
    static const qz_site seq_sites[4][1] = {{QZ_SITE_ATTN_IN}, {QZ_SITE_O_IN}, {QZ_SITE_MLP_IN}, {QZ_SITE_DOWN_IN}};
    static const qz_linear_id seq_ids[4][3] = {{QZ_LIN_Q, QZ_LIN_K, QZ_LIN_V}, {QZ_LIN_O}, {QZ_LIN_GATE, QZ_LIN_UP}, {QZ_LIN_DOWN}};
    static const int seq_n[4] = {3, 1, 2, 1};
    static const qz_site all_sites[4] = {QZ_SITE_ATTN_IN, QZ_SITE_O_IN, QZ_SITE_MLP_IN, QZ_SITE_DOWN_IN};
    static const qz_linear_id all_ids[7] = {QZ_LIN_Q, QZ_LIN_K, QZ_LIN_V, QZ_LIN_O, QZ_LIN_GATE, QZ_LIN_UP, QZ_LIN_DOWN};
    int64_t d = m->cfg.hidden;
    qz_scratch *s = NULL;
    float copy[T * 32];
    int rc = qz_model_reserve(m, T, err);
    if (rc == QZ_OK) rc = qz_scratch_new(&s, &m->cfg, T, err);
    if (rc == QZ_OK) qz_model_embed(m, ids, NS * T, x);
    for (int64_t l = 0; l < m->cfg.n_layers && rc == QZ_OK; l++) {
        qz_layer L;
        rc = qz_layer_load(m, l, &L, err);
        for (int k = 0; k < (true_seq ? 4 : 1) && rc == QZ_OK; k++) {
            ref_filter f = {r, true_seq ? seq_sites[k] : all_sites, true_seq ? 1 : 4};
            qz_observer obs = {ref_observe, &f};
            for (int i = 0; i < NS; i++) {
                memcpy(copy, x + i * T * d, sizeof copy);
                qz_layer_forward(m, &L, copy, 1, T, s, &obs);
            }
            rec_transform(NULL, &L, true_seq ? seq_ids[k] : all_ids, true_seq ? seq_n[k] : 7, err);
        }
        for (int i = 0; rc == QZ_OK && i < NS; i++) qz_layer_forward(m, &L, x + i * T * d, 1, T, s, NULL);
        qz_layer_free(&L);
    }
    qz_scratch_free(s);
    return rc;
}

/* The tiny model written to a fresh temp dir (named by tag) and opened;
 * NULL after a failed check. close_tiny frees both. */
static qz_model *open_tiny(char *dir, size_t dir_size, const char *tag)
{
    qz_model *m = NULL;
    qz_error err = {0};
    qzt_tmpdir(dir, dir_size, tag);
    int rc = qz_synth_write(dir, &tiny, 11, &err);
    if (rc == QZ_OK) rc = qz_model_open(&m, dir, &err);
    CHECK(rc == QZ_OK, "%s", err.msg);
    return rc == QZ_OK ? m : NULL;
}

static void close_tiny(qz_model *m, const char *dir)
{
    qz_model_free(m);
    qzt_rmdir(dir);
}

static void check_close_arrays(const char *what, const float *got, const float *want, int64_t n)
{
    int bad = 0;
    for (int64_t i = 0; i < n && bad < 10; i++)
        if (!(fabs((double)got[i] - want[i]) <= 2e-6 + 2e-5 * fabs((double)want[i]))) {
            bad++;
            CHECK(0, "%s[%lld] = %.9g, reference %.9g", what, (long long)i, (double)got[i], (double)want[i]);
        }
}

/* n random token ids below 64. */
static void random_ids(int32_t *ids, int n, uint64_t seed)
{
    qz_rng rng;
    qz_rng_seed(&rng, seed);
    for (int i = 0; i < n; i++) ids[i] = (int32_t)qz_rng_below(&rng, 64);
}

/* A recorder with room for every site's inputs over all layers. */
static recorder recorder_alloc(void)
{
    int64_t cap = (int64_t)tiny.n_layers * NS * T * 48;
    recorder r = {{NULL}, {0}, cap};
    for (int k = 0; k < QZ_SITE_COUNT; k++) r.log[k] = malloc(sizeof(float) * cap);
    return r;
}

static void compare_with_reference(int true_seq, int cache_off)
{
    char dir[256];
    qz_model *m = open_tiny(dir, sizeof dir, true_seq ? "pipe_seq" : "pipe_one");
    if (!m) return;
    if (cache_off) setenv("QZ_PIPELINE_CACHE_MIB", "0", 1);
    qz_error err = {0};
    int32_t ids[NS * T];
    random_ids(ids, NS * T, 5);
    recorder got = recorder_alloc(), want = recorder_alloc();
    float *x_got = malloc(sizeof(float) * NS * T * 32), *x_want = malloc(sizeof(float) * NS * T * 32);
    qz_method meth = {.ctx = &got, .true_sequential = true_seq, .observe = rec_observe, .transform = rec_transform};
    CHECK(qz_pipeline_run(m, ids, NS, T, &meth, NULL, NULL, x_got, &err) == 0, "%s", err.msg);
    CHECK(reference_run(m, ids, true_seq, &want, x_want, &err) == 0, "%s", err.msg);
    for (int k = 0; k < QZ_SITE_COUNT; k++) {
        int64_t full = tiny.n_layers * NS * T * (k == QZ_SITE_DOWN_IN ? 48 : 32);
        CHECK(got.n[k] == want.n[k] && got.n[k] == full, "site %d: observed %lld floats, reference %lld (of %lld)", k,
              (long long)got.n[k], (long long)want.n[k], (long long)full);
        check_close_arrays(qz_site_name((qz_site)k), got.log[k], want.log[k], got.n[k] < want.n[k] ? got.n[k] : want.n[k]);
        free(got.log[k]), free(want.log[k]);
    }
    check_close_arrays("final hidden state", x_got, x_want, NS * T * 32);
    free(x_got), free(x_want);
    close_tiny(m, dir);
    unsetenv("QZ_PIPELINE_CACHE_MIB");
}

/* 25 windows of 2048 tokens are two forward groups at these shapes (24 + 1
 * under QZ_PIPELINE_BATCH_BYTES): the cached stages read back each group's
 * rows, and give the bytes the recomputing stages give. */
static void test_true_sequential_cache_is_exact(void)
{
    enum { W = 25, L = 2048 };
    char dir[256];
    qz_model *m = open_tiny(dir, sizeof dir, "pipe_cache");
    if (!m) return;
    qz_error err = {0};
    int32_t *ids = malloc(sizeof(int32_t) * W * L);
    random_ids(ids, W * L, 8);
    float *x[2];
    for (int off = 0; off < 2; off++) {
        x[off] = malloc(sizeof(float) * W * L * 32);
        if (off) setenv("QZ_PIPELINE_CACHE_MIB", "0", 1);
        qz_method meth = {.true_sequential = 1, .observe = no_observe, .transform = rec_transform};
        CHECK(qz_pipeline_run(m, ids, W, L, &meth, NULL, NULL, x[off], &err) == 0, "%s", err.msg);
    }
    unsetenv("QZ_PIPELINE_CACHE_MIB");
    CHECK(memcmp(x[0], x[1], sizeof(float) * W * L * 32) == 0, "final hidden states differ with and without the cache");
    free(ids), free(x[0]), free(x[1]);
    close_tiny(m, dir);
}

/* A method that observes nothing (RTN, magnitude pruning) gets one pass per
 * layer after its transforms; the result is the reference's. */
static void test_unobserved_method_matches_reference(void)
{
    char dir[256];
    qz_model *m = open_tiny(dir, sizeof dir, "pipe_rtn");
    if (!m) return;
    qz_error err = {0};
    int32_t ids[NS * T];
    random_ids(ids, NS * T, 7);
    recorder ignored = recorder_alloc();
    float *x_got = malloc(sizeof(float) * NS * T * 32), *x_want = malloc(sizeof(float) * NS * T * 32);
    qz_method meth = {.transform = rec_transform};
    CHECK(qz_pipeline_run(m, ids, NS, T, &meth, NULL, NULL, x_got, &err) == 0, "%s", err.msg);
    CHECK(reference_run(m, ids, 0, &ignored, x_want, &err) == 0, "%s", err.msg);
    check_close_arrays("final hidden state", x_got, x_want, NS * T * 32);
    for (int k = 0; k < QZ_SITE_COUNT; k++) free(ignored.log[k]);
    free(x_got), free(x_want);
    close_tiny(m, dir);
}

static void test_true_sequential_matches_reference(void) { compare_with_reference(1, 0); }
static void test_true_sequential_uncached_matches_reference(void) { compare_with_reference(1, 1); }
static void test_one_stage_matches_reference(void) { compare_with_reference(0, 0); }

/* Two attention tiles per window, three windows: 1 and 3 threads. */
static void test_forward_thread_count_independent(void)
{
    char dir[256];
    qz_model *m = open_tiny(dir, sizeof dir, "pipe_threads");
    if (!m) return;
    qz_error err = {0};
    enum { W = 3, L = 200 };
    int32_t *ids = malloc(sizeof(int32_t) * W * L);
    random_ids(ids, W * L, 6);
    float *x1 = malloc(sizeof(float) * W * L * 32), *x3 = malloc(sizeof(float) * W * L * 32);
    qz_ppl_opts o = {.seqlen = L};
    qz_ppl_result r1, r3;
    qz_set_threads(1);
    CHECK(qz_eval_hidden(m, ids, W, &o, x1, &err) == 0 && qz_eval_ppl(m, ids, W * L, &o, &r1, &err) == 0, "%s", err.msg);
    qz_set_threads(3);
    CHECK(qz_eval_hidden(m, ids, W, &o, x3, &err) == 0 && qz_eval_ppl(m, ids, W * L, &o, &r3, &err) == 0, "%s", err.msg);
    qz_set_threads(0);
    CHECK(memcmp(x1, x3, sizeof(float) * W * L * 32) == 0, "hidden states differ between 1 and 3 threads");
    CHECK(r1.mean_nll == r3.mean_nll && r1.mean_nll > 0, "mean NLL %.17g vs %.17g", r1.mean_nll, r3.mean_nll);
    free(ids), free(x1), free(x3);
    close_tiny(m, dir);
}

int main(void)
{
    QZ_RUN(test_true_sequential_matches_reference);
    QZ_RUN(test_true_sequential_uncached_matches_reference);
    QZ_RUN(test_true_sequential_cache_is_exact);
    QZ_RUN(test_one_stage_matches_reference);
    QZ_RUN(test_unobserved_method_matches_reference);
    QZ_RUN(test_forward_thread_count_independent);
    QZ_TEST_EXIT();
}
