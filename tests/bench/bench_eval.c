/* bench_eval.c - qz-eval throughput on a synthetic checkpoint of
 * SmolLM2-135M's shapes against this machine's measured sgemm peak, printed
 * as JSON: seqlen 512 and 2048, each with 1 worker thread (the baseline) and
 * with the BLAS thread count (the candidate), in the same run.
 *
 * usage: bench_eval [WORKDIR]   (default /tmp/qz-bench-eval; removed after)
 * Shapes: hidden 576, intermediate 1536, 30 layers, 9 heads, 3 KV heads,
 * head_dim 64, vocab 49152, tied embeddings, F16 weights. Model FLOPs per
 * window of T tokens count every multiply-add twice: linears
 * 2*T*params_per_layer per layer, causal attention 4*head_dim*n_heads*
 * T(T+1)/2 per layer (QK^T and PV over the visible keys only), lm_head
 * 2*(T-1)*vocab*hidden. cpu_seconds is the process's CPU time: on a loaded
 * machine, model_gflops_per_cpu_second is the steadier figure.
 */
#include "eval.h"
#include "bench_util.h"
#include "rng.h"
#include "synth.h"

#include <sys/stat.h>
#include <time.h>

static double window_flops(const qz_model_config *c, int64_t T)
{
    double per_layer = 0;
    for (int id = 0; id < QZ_LIN_COUNT; id++) per_layer += (double)qz_linear_in(c, (qz_linear_id)id) * (double)qz_linear_out(c, (qz_linear_id)id);
    double lin = 2.0 * (double)T * per_layer * (double)c->n_layers;
    double att = 4.0 * (double)c->head_dim * (double)c->n_heads * (double)T * (double)(T + 1) / 2.0 * (double)c->n_layers;
    double head = 2.0 * (double)(T - 1) * (double)c->vocab * (double)c->hidden;
    return lin + att + head;
}

static double cpu_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int run(qz_model *m, int64_t T, int64_t windows, int threads, double peak, const char *sep)
{
    int64_t n = T * windows;
    int32_t *ids = malloc((size_t)n * sizeof *ids);
    qz_rng r;
    qz_rng_seed(&r, 7);
    for (int64_t i = 0; i < n; i++) ids[i] = (int32_t)qz_rng_below(&r, (uint64_t)m->cfg.vocab);
    qz_ppl_opts o = {.seqlen = T};
    qz_ppl_result res;
    qz_error err = {0};
    qz_set_threads(threads);
    double c0 = cpu_now();
    int rc = qz_eval_ppl(m, ids, n, &o, &res, &err);
    double cpu = cpu_now() - c0;
    qz_set_threads(0);
    free(ids);
    if (rc) {
        fprintf(stderr, "bench_eval: %s\n", err.msg);
        return rc;
    }
    double work = window_flops(&m->cfg, T) * (double)windows, flops = work / res.seconds;
    printf("%s    {\"seqlen\": %lld, \"windows\": %lld, \"worker_threads\": %d, \"seconds\": %.3f, \"cpu_seconds\": %.3f, "
           "\"tokens_per_second\": %.1f, \"model_gflops\": %.2f, \"efficiency\": %.3f, \"model_gflops_per_cpu_second\": %.2f}",
           sep, (long long)T, (long long)windows, threads, res.seconds, cpu, res.tokens_per_second, flops * 1e-9, flops / peak,
           work / cpu * 1e-9);
    return 0;
}

int main(int argc, char **argv)
{
    bench_start();
    const char *dir = argc > 1 ? argv[1] : "/tmp/qz-bench-eval";
    mkdir(dir, 0755);
    qz_model_config c = {.arch = QZ_ARCH_LLAMA, .hidden = 576, .intermediate = 1536, .n_layers = 30, .n_heads = 9,
                         .n_kv_heads = 3, .head_dim = 64, .vocab = 49152, .max_position = 8192, .rms_eps = 1e-5,
                         .rope_theta = 100000, .bos_id = 1, .eos_id = 2, .torch_dtype = QZ_DTYPE_F16, .tie_embeddings = 1};
    qz_error err = {0};
    qz_model *m = NULL;
    double t0 = qz_now();
    if (qz_synth_write(dir, &c, 42, &err) || qz_model_open(&m, dir, &err)) {
        fprintf(stderr, "bench_eval: %s\n", err.msg);
        return 3;
    }
    double setup = qz_now() - t0;
    double peak = bench_sgemm_peak(2048);
    int nt = openblas_get_num_threads();
    bench_json_open("eval");
    printf("  \"model\": \"synthetic SmolLM2-135M shapes: hidden 576 ffn 1536 heads 9/3 head_dim 64 "
           "vocab 49152 layers 30 tied f16\",\n  \"blas_threads\": %d,\n  \"setup_seconds\": %.2f,\n"
           "  \"baseline_sgemm_2048_gflops\": %.2f,\n  \"runs\": [\n",
           nt, setup, peak * 1e-9);
    int rc = 0;
    const char *sep = "";
    static const int64_t shapes[2][2] = {{512, 4}, {2048, 1}};
    for (int s = 0; s < 2 && rc == 0; s++)
        for (int k = 0; k < (nt > 1 ? 2 : 1) && rc == 0; k++, sep = ",\n") rc = run(m, shapes[s][0], shapes[s][1], k ? nt : 1, peak, sep);
    printf("\n  ],\n  \"peak_rss_mib\": %.1f\n}\n", bench_peak_rss_mib());
    qz_model_free(m);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "bench_eval: could not remove %s\n", dir);
    return rc ? 3 : 0;
}
