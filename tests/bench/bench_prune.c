/* bench_prune.c - Wanda and SparseGPT on one LLaMA-7B-shaped decoder layer
 * (q/k/v/o 4096x4096, gate/up 11008x4096, down 4096x11008), synthetic
 * weights and activations, driven through the real method callbacks the
 * pipeline calls (observe every input site over the calibration tokens,
 * then transform the seven linears), without the layer's forward pass
 * (the pipeline's cost, the same for every method; see bench_eval).
 *
 * Per method and pattern: statistics seconds (Wanda: sum x^2 per input
 * column; SparseGPT: the four Hessians, ssyrk - the same work as GPTQ's),
 * mask + update seconds, total. QZ_BENCH_PRUNE_TOKENS overrides the token
 * count (default 16384 = 8 x 2048; the reference's 128 x 2048 makes the
 * statistics 16x longer, the mask/update step no longer). Baseline in the
 * same run: the sgemm peak, and magnitude pruning of the same layer.
 */
#include "bench_util.h"
#include "prune.h"

#include <string.h>

static const struct {
    int64_t out, in;
    qz_site site;
} lin[QZ_LIN_COUNT] = {{4096, 4096, QZ_SITE_ATTN_IN}, {4096, 4096, QZ_SITE_ATTN_IN}, {4096, 4096, QZ_SITE_ATTN_IN},
                       {4096, 4096, QZ_SITE_O_IN},    {11008, 4096, QZ_SITE_MLP_IN}, {11008, 4096, QZ_SITE_MLP_IN},
                       {4096, 11008, QZ_SITE_DOWN_IN}};

static int discard_layer(void *ctx, const qz_layer *L, const qz_quant_result *const q[QZ_LIN_COUNT],
                         const qz_module_report rep[QZ_LIN_COUNT], qz_error *err)
{
    (void)ctx, (void)L, (void)q, (void)rep, (void)err;
    return QZ_OK;
}

typedef struct run {
    const char *method, *pattern;
    double stats_s, mask_s;
} run;

/* One method over the layer: W restored from W0, tokens of activations fed
 * per site in chunks, then the transform. */
static int bench_method(const qz_method *meth, qz_layer *L, float *const W0[QZ_LIN_COUNT], float *X, int64_t tokens, int64_t chunk,
                        run *r, qz_error *err)
{
    for (int id = 0; id < QZ_LIN_COUNT; id++) memcpy(L->lin[id].w, W0[id], (size_t)(lin[id].out * lin[id].in) * sizeof(float));
    if (meth->layer_begin && meth->layer_begin(meth->ctx, NULL, L, err)) return -1;
    qz_rng rng;
    qz_rng_seed(&rng, 9);
    double t0;
    r->stats_s = 0;
    for (int s = 0; meth->observe && s < QZ_SITE_COUNT; s++) {
        int64_t d = s == QZ_SITE_DOWN_IN ? 11008 : 4096;
        for (int64_t done = 0; done < tokens; done += chunk) {
            bench_fill_uniform(X, chunk * d, &rng, 1.0f);
            t0 = qz_now();
            meth->observe(meth->ctx, L, (qz_site)s, X, chunk);
            r->stats_s += qz_now() - t0;
        }
    }
    const qz_linear_id ids[QZ_LIN_COUNT] = {QZ_LIN_Q, QZ_LIN_K, QZ_LIN_V, QZ_LIN_O, QZ_LIN_GATE, QZ_LIN_UP, QZ_LIN_DOWN};
    t0 = qz_now();
    int rc = meth->transform(meth->ctx, L, ids, QZ_LIN_COUNT, err);
    r->mask_s = qz_now() - t0;
    return rc ? rc : meth->layer_end(meth->ctx, NULL, L, err);
}

int main(void)
{
    bench_start();
    const char *env = getenv("QZ_BENCH_PRUNE_TOKENS");
    int64_t chunk = 2048, tokens = env ? atoll(env) : 8 * chunk;
    if (tokens < chunk) tokens = chunk;
    qz_model_config cfg = {.hidden = 4096, .intermediate = 11008, .n_layers = 1, .n_heads = 32, .n_kv_heads = 32, .head_dim = 128,
                           .vocab = 32000};
    double peak = bench_sgemm_peak(2048);
    qz_rng rng;
    qz_rng_seed(&rng, 3);
    qz_layer L = {0};
    float *W0[QZ_LIN_COUNT];
    for (int id = 0; id < QZ_LIN_COUNT; id++) {
        int64_t n = lin[id].out * lin[id].in;
        L.lin[id] = (qz_linear){qz_malloc_array((size_t)n, sizeof(float)), NULL, lin[id].out, lin[id].in};
        W0[id] = qz_malloc_array((size_t)n, sizeof(float));
        QZ_ASSERT(L.lin[id].w && W0[id]);
        bench_fill_uniform(W0[id], n, &rng, 1.7f / 64.0f);
    }
    float *X = qz_malloc_array((size_t)(chunk * 11008), sizeof(float));
    QZ_ASSERT(X);
    qz_quant_sink sink = {NULL, discard_layer};
    qz_error err = {0};
    run runs[5] = {{"magnitude", "50%", 0, 0}, {"wanda", "50%", 0, 0}, {"wanda", "2:4", 0, 0}, {"sparsegpt", "50%", 0, 0}, {"sparsegpt", "2:4", 0, 0}};
    for (int i = 0; i < 5; i++) {
        int nm = strcmp(runs[i].pattern, "2:4") == 0;
        qz_quant_method m = i == 0 ? QZ_QUANT_MAGNITUDE : i < 3 ? QZ_QUANT_WANDA : QZ_QUANT_SPARSEGPT;
        qz_pruner *p = NULL;
        qz_quantizer *q = NULL;
        int rc;
        if (m == QZ_QUANT_SPARSEGPT) {
            qz_quant_opts qo = {.method = m, .sparsegpt = qz_sparsegpt_opts_default()};
            if (nm) qo.sparsegpt.prune_n = 2, qo.sparsegpt.prune_m = 4;
            rc = qz_quantizer_new(&q, &cfg, &qo, &sink, &err);
        } else {
            qz_prune_opts po = {.method = m, .sparsity = 0.5, .prune_n = nm ? 2 : 0, .prune_m = nm ? 4 : 0,
                                .scope = m == QZ_QUANT_WANDA ? QZ_PRUNE_SCOPE_ROW : QZ_PRUNE_SCOPE_LAYER, .ffn_keep = 1};
            rc = qz_pruner_new(&p, &cfg, &po, &sink, &err);
        }
        if (rc == QZ_OK) rc = bench_method(q ? qz_quantizer_method(q) : qz_pruner_method(p), &L, W0, X, tokens, chunk, &runs[i], &err);
        qz_pruner_free(p);
        qz_quantizer_free(q);
        if (rc) {
            fprintf(stderr, "bench_prune: %s\n", err.msg);
            return 3;
        }
        fprintf(stderr, "bench_prune: %s %s: %.1f s + %.1f s\n", runs[i].method, runs[i].pattern, runs[i].stats_s, runs[i].mask_s);
    }
    bench_json_open("prune_layer");
    printf("  \"shape\": \"llama-7b layer: q/k/v/o 4096x4096, gate/up 11008x4096, down 4096x11008\",\n"
           "  \"tokens\": %lld,\n  \"threads\": %d,\n  \"baseline_sgemm_2048_gflops\": %.2f,\n  \"runs\": [\n",
           (long long)tokens, openblas_get_num_threads(), peak * 1e-9);
    for (int i = 0; i < 5; i++)
        printf("    {\"method\": \"%s\", \"pattern\": \"%s\", \"statistics_seconds\": %.2f, \"mask_update_seconds\": %.2f, "
               "\"total_seconds\": %.2f}%s\n",
               runs[i].method, runs[i].pattern, runs[i].stats_s, runs[i].mask_s, runs[i].stats_s + runs[i].mask_s, i < 4 ? "," : "");
    printf("  ],\n  \"peak_rss_mib\": %.1f\n}\n", bench_peak_rss_mib());
    for (int id = 0; id < QZ_LIN_COUNT; id++) free(L.lin[id].w), free(W0[id]);
    free(X);
    return 0;
}
