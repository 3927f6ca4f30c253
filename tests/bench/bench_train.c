/* bench_train.c - training throughput (qz-distill's student step: forward
 * with saved activations, loss, backward) on a synthetic LLaMA-shaped
 * checkpoint against this machine's measured sgemm peak, printed as JSON.
 *
 * usage: bench_train [WORKDIR]   (default /tmp/qz-bench-train; removed after)
 * Shapes as bench_eval: hidden 2048, intermediate 5632, 32 heads, 4 KV
 * heads, vocab 32000, 4 layers, tied embeddings. FLOPs of a step: 3x the
 * forward's (the backward computes two products per forward product),
 * forward = linears 2*T*params_per_layer per layer + attention 4*T*T*qd
 * per layer (full T x T, as computed) + lm_head 2*T*vocab*hidden, per
 * window. The teacher's forward and the AdamW update (a memory-bound pass
 * over the parameters) are timed apart.
 */
#include "bench_util.h"
#include "distill.h"
#include "synth.h"

#include <math.h>
#include <string.h>
#include <sys/stat.h>

static double step_flops(const qz_model_config *c, int64_t B, int64_t T)
{
    double per_layer = 0;
    for (int id = 0; id < QZ_LIN_COUNT; id++) per_layer += (double)qz_linear_in(c, (qz_linear_id)id) * (double)qz_linear_out(c, (qz_linear_id)id);
    double lin = 2.0 * (double)T * per_layer * (double)c->n_layers;
    double att = 4.0 * (double)T * (double)T * (double)(c->n_heads * c->head_dim) * (double)c->n_layers;
    double head = 2.0 * (double)T * (double)c->vocab * (double)c->hidden;
    return 3.0 * (double)B * (lin + att + head);
}

static int run(qz_model *m, qz_train_model *tm, int64_t B, int64_t T, int steps, double peak, const char *sep)
{
    qz_error err = {0};
    qz_train_acts *a = NULL;
    qz_distill_scratch *s = NULL;
    int32_t *ids = malloc((size_t)(B * T) * sizeof *ids);
    int rc = qz_model_reserve(m, T, &err);
    if (rc == 0) rc = qz_train_acts_new(&a, &m->cfg, B, T, &err);
    if (rc == 0) rc = qz_distill_scratch_new(&s, &m->cfg, &err);
    qz_rng r;
    qz_rng_seed(&r, 7);
    for (int64_t i = 0; ids && i < B * T; i++) ids[i] = (int32_t)qz_rng_below(&r, (uint64_t)m->cfg.vocab);
    qz_loss_opts lo = {QZ_LOSS_CE, 0, 1};
    qz_distill_point pt;
    double best = INFINITY;
    for (int i = 0; rc == 0 && i < steps; i++) {
        double t0 = qz_now();
        rc = qz_distill_grad(tm, a, s, ids, B, &lo, 0, NULL, NULL, NULL, &pt, &err);
        best = fmin(best, qz_now() - t0);
    }
    if (rc == 0) {
        double f = step_flops(&m->cfg, B, T) / best;
        printf("%s    {\"batch\": %lld, \"seqlen\": %lld, \"step_seconds\": %.3f, \"tokens_per_second\": %.1f, \"train_gflops\": %.2f, "
               "\"efficiency\": %.3f, \"activation_mib\": %.0f}",
               sep, (long long)B, (long long)T, best, (double)(B * T) / best, f * 1e-9, f / peak,
               (double)qz_train_acts_bytes(&m->cfg, B, T) / 1048576.0);
    } else
        fprintf(stderr, "bench_train: %s\n", err.msg);
    qz_distill_scratch_free(s);
    qz_train_acts_free(a);
    free(ids);
    return rc;
}

/* Seconds of one AdamW update over every parameter (moments allocated
 * here; the second step is timed, after the first touched their pages). */
static double adamw_seconds(qz_train_model *tm)
{
    float *mo = qz_calloc_array((size_t)tm->n_params, sizeof(float)), *v = qz_calloc_array((size_t)tm->n_params, sizeof(float));
    QZ_ASSERT(mo && v);
    qz_adamw o = {0.9, 0.95, 1e-8, 0.1};
    qz_adamw_step(&o, tm->params, tm->grads, mo, v, NULL, tm->n_params, 1, 1e-6); /* touches the moments' pages */
    double t0 = qz_now();
    qz_adamw_step(&o, tm->params, tm->grads, mo, v, NULL, tm->n_params, 2, 1e-6);
    double t = qz_now() - t0;
    free(mo);
    free(v);
    return t;
}

int main(int argc, char **argv)
{
    bench_start();
    const char *dir = argc > 1 ? argv[1] : "/tmp/qz-bench-train";
    mkdir(dir, 0755);
    qz_model_config c = {.arch = QZ_ARCH_LLAMA, .hidden = 2048, .intermediate = 5632, .n_layers = 4, .n_heads = 32,
                         .n_kv_heads = 4, .head_dim = 64, .vocab = 32000, .max_position = 4096, .rms_eps = 1e-5,
                         .rope_theta = 10000, .tie_embeddings = 1, .bos_id = 1, .eos_id = 2, .torch_dtype = QZ_DTYPE_F16};
    qz_error err = {0};
    qz_model *m = NULL;
    qz_train_model *tm = NULL;
    double t0 = qz_now();
    if (qz_synth_write(dir, &c, 42, &err) || qz_model_open(&m, dir, &err) || qz_train_model_load(&tm, m, &err)) {
        fprintf(stderr, "bench_train: %s\n", err.msg);
        return 3;
    }
    double setup = qz_now() - t0;
    double peak = bench_sgemm_peak(2048);
    bench_json_open("train");
    printf("  \"model\": \"synthetic llama hidden 2048 ffn 5632 heads 32/4 vocab 32000 layers 4 tied\",\n"
           "  \"params\": %lld,\n  \"threads\": %d,\n  \"setup_seconds\": %.2f,\n  \"baseline_sgemm_2048_gflops\": %.2f,\n  \"runs\": [\n",
           (long long)tm->n_params, openblas_get_num_threads(), setup, peak * 1e-9);
    int rc = run(m, tm, 1, 512, 2, peak, "");
    if (rc == 0) rc = run(m, tm, 2, 512, 1, peak, ",\n");
    printf("\n  ],\n  \"adamw_seconds\": %.3f,\n  \"peak_rss_mib\": %.1f\n}\n", adamw_seconds(tm), bench_peak_rss_mib());
    qz_train_model_free(tm);
    qz_model_free(m);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "bench_train: could not remove %s\n", dir);
    return rc ? 3 : 0;
}
