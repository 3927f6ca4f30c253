/* bench_awq.c - AWQ on one LLaMA-7B-shaped decoder layer (hidden 4096, FFN
 * 11008, 32 heads, 32 KV heads so the v->o group is searched too), synthetic
 * F16 weights, through the real pipeline and search code, 4-bit g128.
 *
 * AWQ's cost is the scale search: every candidate ratio (20) re-runs the
 * inspected module (attention block, MLP, o_proj, down_proj) over all
 * calibration tokens. The default here is 4 samples x 512 tokens;
 * QZ_BENCH_AWQ_SAMPLES overrides it (the reference's 128 take ~32x longer).
 */
#include "awq.h"
#include "bench_util.h"
#include "rng.h"
#include "synth.h"

#include <sys/stat.h>

static int discard_layer(void *ctx, const qz_layer *L, const qz_quant_result *const q[QZ_LIN_COUNT],
                         const qz_module_report rep[QZ_LIN_COUNT], qz_error *err)
{
    (void)L, (void)q, (void)err;
    double *s = ctx;
    for (int id = 0; id < QZ_LIN_COUNT; id++) s[id] += rep[id].seconds;
    return QZ_OK;
}

int main(int argc, char **argv)
{
    bench_start();
    const char *dir = argc > 1 ? argv[1] : "/tmp/qz-bench-awq";
    const char *env = getenv("QZ_BENCH_AWQ_SAMPLES");
    int64_t ns = env ? atoll(env) : 4, T = 512;
    if (ns < 1) ns = 1;
    mkdir(dir, 0755);
    qz_model_config c = {.arch = QZ_ARCH_LLAMA, .hidden = 4096, .intermediate = 11008, .n_layers = 1, .n_heads = 32,
                         .n_kv_heads = 32, .head_dim = 128, .vocab = 1024, .max_position = 4096, .rms_eps = 1e-5,
                         .rope_theta = 10000, .bos_id = 1, .eos_id = 2, .torch_dtype = QZ_DTYPE_F16};
    qz_error err = {0};
    qz_model *m = NULL;
    if (qz_synth_write(dir, &c, 11, &err) || qz_model_open(&m, dir, &err)) {
        fprintf(stderr, "bench_awq: %s\n", err.msg);
        return 3;
    }
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)(ns * T));
    qz_rng r;
    qz_rng_seed(&r, 5);
    for (int64_t i = 0; i < ns * T; i++) ids[i] = (int32_t)qz_rng_below(&r, 1024);
    double mod_s[QZ_LIN_COUNT] = {0};
    qz_quant_sink sink = {mod_s, discard_layer};
    qz_awq_opts o = qz_awq_opts_default();
    qz_awq *a = NULL;
    double peak = bench_sgemm_peak(2048), t0 = qz_now();
    int rc = qz_awq_new(&a, m, &o, ns, T, &sink, &err);
    if (rc == QZ_OK) rc = qz_pipeline_run(m, ids, ns, T, qz_awq_method(a), NULL, NULL, NULL, &err);
    double secs = qz_now() - t0;
    if (rc) fprintf(stderr, "bench_awq: %s\n", err.msg);
    bench_json_open("awq_layer");
    printf("  \"shape\": \"llama-7b layer: hidden 4096, ffn 11008, 32 heads (MHA), f16\",\n"
           "  \"tokens\": %lld,\n  \"threads\": %d,\n  \"baseline_sgemm_2048_gflops\": %.2f,\n  \"seconds\": %.2f,\n"
           "  \"seconds_per_1k_tokens\": %.2f,\n  \"search_clip_quant_seconds\": {\"qkv\": %.2f, \"o\": %.2f, \"gate_up\": %.2f, \"down\": %.2f},\n"
           "  \"peak_rss_mib\": %.1f\n}\n",
           (long long)(ns * T), openblas_get_num_threads(), peak * 1e-9, secs, secs * 1000.0 / (double)(ns * T),
           mod_s[QZ_LIN_Q], mod_s[QZ_LIN_O], mod_s[QZ_LIN_GATE], mod_s[QZ_LIN_DOWN], bench_peak_rss_mib());
    qz_awq_free(a);
    qz_model_free(m);
    free(ids);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "bench_awq: could not remove %s\n", dir);
    return rc ? 3 : 0;
}
