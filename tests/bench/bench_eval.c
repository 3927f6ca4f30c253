/* bench_eval.c - qz-eval throughput on a synthetic LLaMA-shaped checkpoint
 * against this machine's measured sgemm peak, printed as JSON.
 *
 * usage: bench_eval [WORKDIR]   (default /tmp/qz-bench-eval; removed after)
 * Shapes: hidden 2048, intermediate 5632, 32 heads, 4 KV heads, vocab 32000,
 * 4 layers, F16 weights. Model FLOPs per window of T tokens count every
 * multiply-add twice: linears 2*T*params_per_layer per layer, attention
 * 4*T*T*n_heads*head_dim per layer (QK^T and PV, full T x T as computed),
 * lm_head 2*(T-1)*vocab*hidden.
 */
#include "eval.h"
#include "bench_util.h"
#include "rng.h"
#include "synth.h"

#include <sys/stat.h>

/* Best of several n x n x n sgemm runs, in FLOP/s. */
static double window_flops(const qz_model_config *c, int64_t T)
{
    double per_layer = 0;
    for (int id = 0; id < QZ_LIN_COUNT; id++) per_layer += (double)qz_linear_in(c, (qz_linear_id)id) * (double)qz_linear_out(c, (qz_linear_id)id);
    double lin = 2.0 * (double)T * per_layer * (double)c->n_layers;
    double att = 4.0 * (double)T * (double)T * (double)(c->n_heads * c->head_dim) * (double)c->n_layers;
    double head = 2.0 * (double)(T - 1) * (double)c->vocab * (double)c->hidden;
    return lin + att + head;
}

static int run(qz_model *m, int64_t T, int64_t windows, double peak, const char *sep)
{
    int64_t n = T * windows;
    int32_t *ids = malloc((size_t)n * sizeof *ids);
    qz_rng r;
    qz_rng_seed(&r, 7);
    for (int64_t i = 0; i < n; i++) ids[i] = (int32_t)qz_rng_below(&r, (uint64_t)m->cfg.vocab);
    qz_ppl_opts o = {.seqlen = T};
    qz_ppl_result res;
    qz_error err = {0};
    int rc = qz_eval_ppl(m, ids, n, &o, &res, &err);
    free(ids);
    if (rc) {
        fprintf(stderr, "bench_eval: %s\n", err.msg);
        return rc;
    }
    double flops = window_flops(&m->cfg, T) * (double)windows / res.seconds;
    printf("%s    {\"seqlen\": %lld, \"windows\": %lld, \"seconds\": %.3f, \"tokens_per_second\": %.1f, "
           "\"model_gflops\": %.2f, \"efficiency\": %.3f}",
           sep, (long long)T, (long long)windows, res.seconds, res.tokens_per_second, flops * 1e-9, flops / peak);
    return 0;
}

int main(int argc, char **argv)
{
    bench_start();
    const char *dir = argc > 1 ? argv[1] : "/tmp/qz-bench-eval";
    mkdir(dir, 0755);
    qz_model_config c = {.arch = QZ_ARCH_LLAMA, .hidden = 2048, .intermediate = 5632, .n_layers = 4, .n_heads = 32,
                         .n_kv_heads = 4, .head_dim = 64, .vocab = 32000, .max_position = 4096, .rms_eps = 1e-5,
                         .rope_theta = 10000, .bos_id = 1, .eos_id = 2, .torch_dtype = QZ_DTYPE_F16};
    qz_error err = {0};
    qz_model *m = NULL;
    double t0 = qz_now();
    if (qz_synth_write(dir, &c, 42, &err) || qz_model_open(&m, dir, &err)) {
        fprintf(stderr, "bench_eval: %s\n", err.msg);
        return 3;
    }
    double setup = qz_now() - t0;
    double peak = bench_sgemm_peak(2048);
    bench_json_open("eval");
    printf("  \"model\": \"synthetic llama hidden 2048 ffn 5632 heads 32/4 vocab 32000 layers 4 f16\",\n"
           "  \"threads\": %d,\n  \"setup_seconds\": %.2f,\n  \"baseline_sgemm_2048_gflops\": %.2f,\n  \"runs\": [\n",
           openblas_get_num_threads(), setup, peak * 1e-9);
    int rc = run(m, 512, 4, peak, "");
    if (rc == 0) rc = run(m, 2048, 1, peak, ",\n");
    printf("\n  ],\n  \"peak_rss_mib\": %.1f\n}\n", bench_peak_rss_mib());
    qz_model_free(m);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "bench_eval: could not remove %s\n", dir);
    return rc ? 3 : 0;
}
