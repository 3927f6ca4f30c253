/* bench_gptq.c - GPTQ on one LLaMA-7B-shaped decoder layer: q/k/v/o
 * 4096x4096, gate/up 11008x4096, down 4096x11008, synthetic weights and
 * activations, 128 samples x 2048 tokens accumulated into the four Hessians
 * (one per input site, as qz-gptq keeps them), then the GPTQ solve of all
 * seven linears (4-bit, group 128, symmetric) and RTN on the same grid.
 *
 * Efficiency figures divide by the sgemm peak measured in the same run with
 * the best core this OpenBLAS has (bench_util.h bench_sgemm_peak):
 *   hessian: useful FLOPs tokens*d*(d+1) per site (ssyrk) / time
 *   gptq update: the lazy block updates and in-block updates, rows*cols^2
 *   FLOPs per linear (plus the O(cols^3) Cholesky work, in fp64, not counted)
 * QZ_BENCH_TOKENS overrides the token count (default 262144).
 */
#include "gptq.h"
#include "bench_util.h"

#include <string.h>

int main(void)
{
    bench_start();
    const char *env = getenv("QZ_BENCH_TOKENS");
    int64_t tokens = env ? atoll(env) : 128 * 2048, chunk = 2048;
    if (tokens < chunk) tokens = chunk;
    const int64_t d = 4096, ff = 11008;
    const int64_t site_dim[4] = {d, d, d, ff};
    const char *site_name[4] = {"attn_in", "o_in", "mlp_in", "down_in"};
    const struct { const char *name; int64_t out, in; int site; } lin[7] = {
        {"q_proj", d, d, 0}, {"k_proj", d, d, 0}, {"v_proj", d, d, 0}, {"o_proj", d, d, 1},
        {"gate_proj", ff, d, 2}, {"up_proj", ff, d, 2}, {"down_proj", d, ff, 3}};
    double peak = bench_sgemm_peak(2048);
    qz_rng rng;
    qz_rng_seed(&rng, 1);
    qz_error err = {0};
    float *X = malloc((size_t)(chunk * ff) * sizeof(float));
    float *H[4];
    double hess_s = 0, hess_flops = 0;
    bench_json_open("gptq_layer");
    printf("  \"shape\": \"llama-7b layer: q/k/v/o 4096x4096, gate/up 11008x4096, down 4096x11008\",\n"
           "  \"tokens\": %lld,\n  \"threads\": %d,\n  \"baseline_sgemm_2048_gflops\": %.2f,\n  \"hessian\": [\n",
           (long long)tokens, openblas_get_num_threads(), peak * 1e-9);
    for (int s = 0; s < 4; s++) {
        int64_t n = site_dim[s], seen = 0;
        H[s] = calloc((size_t)(n * n), sizeof(float));
        double t = 0;
        for (int64_t done = 0; done < tokens; done += chunk) {
            bench_fill_uniform(X, chunk * n, &rng, 1.0f);
            double t0 = qz_now();
            if (qz_hessian_add(H[s], &seen, X, chunk, n, 1, &err)) { fprintf(stderr, "%s\n", err.msg); return 3; }
            t += qz_now() - t0;
        }
        double t0 = qz_now();
        qz_hessian_symmetrize(H[s], n);
        t += qz_now() - t0;
        double f = (double)tokens * (double)n * (double)(n + 1);
        hess_s += t;
        hess_flops += f;
        printf("    {\"site\": \"%s\", \"dim\": %lld, \"seconds\": %.2f, \"gflops\": %.1f, \"efficiency\": %.3f}%s\n",
               site_name[s], (long long)n, t, f / t * 1e-9, f / t / peak, s < 3 ? "," : "");
    }
    free(X);
    printf("  ],\n  \"hessian_seconds\": %.2f,\n  \"hessian_efficiency\": %.3f,\n  \"modules\": [\n", hess_s, hess_flops / hess_s / peak);
    qz_gptq_opts o = qz_gptq_opts_default();
    o.bits = 4;
    o.group_size = 128;
    o.sym = 1;
    double gptq_s = 0, rtn_s = 0, upd_flops = 0;
    for (int i = 0; i < 7; i++) {
        int64_t rows = lin[i].out, cols = lin[i].in;
        float *W = malloc((size_t)(rows * cols) * sizeof(float)), *W2 = malloc((size_t)(rows * cols) * sizeof(float));
        float *Hc = malloc((size_t)(cols * cols) * sizeof(float));
        bench_fill_uniform(W, rows * cols, &rng, 1.7f / 64.0f);
        memcpy(W2, W, (size_t)(rows * cols) * sizeof(float));
        memcpy(Hc, H[lin[i].site], (size_t)(cols * cols) * sizeof(float));
        qz_quant_result res = {0}, rres = {0};
        double t0 = qz_now();
        if (qz_gptq_quantize(W, rows, cols, Hc, &o, NULL, &res, &err)) { fprintf(stderr, "%s\n", err.msg); return 3; }
        double tg = qz_now() - t0;
        qz_grid_cfg g = {4, 1, 0};
        t0 = qz_now();
        if (qz_rtn_quantize(W2, rows, cols, &g, 128, &rres, &err)) { fprintf(stderr, "%s\n", err.msg); return 3; }
        double tr = qz_now() - t0;
        double f = (double)rows * (double)cols * (double)cols;
        gptq_s += tg;
        rtn_s += tr;
        upd_flops += f;
        printf("    {\"module\": \"%s\", \"rows\": %lld, \"cols\": %lld, \"gptq_seconds\": %.2f, \"damp_used\": %g, "
               "\"update_efficiency\": %.3f, \"rtn_seconds\": %.3f}%s\n",
               lin[i].name, (long long)rows, (long long)cols, tg, res.damp_used, f / tg / peak, tr, i < 6 ? "," : "");
        qz_quant_result_free(&res);
        qz_quant_result_free(&rres);
        free(W);
        free(W2);
        free(Hc);
    }
    for (int s = 0; s < 4; s++) free(H[s]);
    printf("  ],\n  \"gptq_seconds\": %.2f,\n  \"gptq_update_efficiency\": %.3f,\n  \"rtn_seconds\": %.3f,\n"
           "  \"layer_seconds_total\": %.2f,\n  \"peak_rss_mib\": %.1f\n}\n",
           gptq_s, upd_flops / gptq_s / peak, rtn_s, hess_s + gptq_s, bench_peak_rss_mib());
    return 0;
}
