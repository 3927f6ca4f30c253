/* bench_gptq_solve.c - one GPTQ solve against its floor and the torch
 * reference, in one run: a 4096x4096 linear, 4-bit, group 128, symmetric,
 * act-order, H from 8192 synthetic tokens (4 batches of 2048, one sequence
 * each, as qz-gptq accumulates them).
 *
 * Prints one JSON object:
 *   qz: Hessian seconds, blocked-solver seconds and the reference-order
 *       solver (QZ_GPTQ_SOLVER_REF) on the same H, their code agreement;
 *   floor: the solve's FLOPs (lazy-block + in-block updates in fp32, the
 *       dpotrf + dtrtri factorizations in fp64) at the sgemm/dgemm peaks
 *       measured in this run, and the fraction of it qz reaches; the same in
 *       process CPU time (peaks as FLOP per CPU second), which a loaded
 *       machine disturbs far less than wall time, most of all with
 *       OPENBLAS_NUM_THREADS=1;
 *   torch: scripts/bench_gptq_torch.py (fasterquant transcribed from
 *       FORMATS-AND-ALGORITHMS.md 1b, fp32 torch) on the same X and W, run
 *       with $QZ_TORCH_PYTHON (default /usr/bin/python3); "skipped" with the
 *       reason when that python has no torch.
 * Run from the repository root (make bench does), where the script lies.
 * QZ_BENCH_SOLVE_N and QZ_BENCH_SOLVE_TOKENS override the size (4096, 8192).
 * Timings are wall-clock on a possibly shared machine; nothing is asserted.
 */
#include "gptq.h"
#include "bench_util.h"

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double cpu_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Best of five n^3 gemm runs (fp64 with dbl, else fp32): FLOP/s of wall
 * time, and in *cpu FLOP per second of process CPU time (all threads). The
 * fp64 rate bounds the factorizations (blocked, dgemm-bound). */
static double gemm_peak(int dbl, int n, double *cpu)
{
    const size_t nn = (size_t)n * n, es = dbl ? sizeof(double) : sizeof(float);
    void *a = qz_malloc_array(nn, es), *b = qz_malloc_array(nn, es), *c = qz_malloc_array(nn, es);
    QZ_ASSERT(a && b && c);
    for (size_t i = 0; i < nn; i++) {
        if (dbl) ((double *)a)[i] = ((double *)b)[i] = (double)(i % 7) * 0.1;
        else ((float *)a)[i] = ((float *)b)[i] = (float)(i % 7) * 0.1f;
    }
    double best = 0, flops = 2.0 * n * n * (double)n;
    *cpu = 0;
    for (int rep = 0; rep < 5; rep++) {
        double t0 = qz_now(), c0 = cpu_now();
        if (dbl)
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, n, 1.0, a, n, b, n, 0.0, c, n);
        else
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        double w = flops / (qz_now() - t0), u = flops / (cpu_now() - c0);
        best = w > best ? w : best;
        *cpu = u > *cpu ? u : *cpu;
    }
    free(a);
    free(b);
    free(c);
    return best;
}

/* FLOPs of the solve: fp32 updates (every block's in-block and lazy
 * updates: 2 * rows * (columns after each column)), fp64 factorizations. */
static void solve_flops(int64_t rows, int64_t cols, int64_t bs, double *f32, double *f64)
{
    *f32 = 0;
    for (int64_t i1 = 0; i1 < cols; i1 += bs) {
        int64_t n = i1 + bs < cols ? bs : cols - i1;
        *f32 += 2.0 * rows * (double)n * (double)(n - 1) / 2.0; /* in-block */
        *f32 += 2.0 * rows * (double)n * (double)(cols - i1 - n); /* lazy */
    }
    *f64 = 2.0 * (double)cols * cols * cols / 3.0; /* dpotrf n^3/3 + dtrtri n^3/3 */
}

static int write_f32(const char *dir, const char *name, const float *x, int64_t n)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(x, sizeof *x, (size_t)n, f);
    return fclose(f) == 0 && w == (size_t)n ? 0 : -1;
}

/* Runs the torch script on X and W dumped to a temp dir; fills *out with its
 * JSON (caller frees) or returns the reason it was skipped. */
static const char *run_torch(const float *X, const float *W, int64_t tokens, int64_t n,
                             int64_t chunk, cJSON **out)
{
    static char why[256];
    const char *py = getenv("QZ_TORCH_PYTHON") ? getenv("QZ_TORCH_PYTHON") : "/usr/bin/python3";
    char cmd[1024], dir[] = "/tmp/qz-bench-gptq.XXXXXX", buf[4096];
    snprintf(cmd, sizeof cmd, "%s -c 'import torch' 2>/dev/null", py);
    if (system(cmd) != 0) {
        snprintf(why, sizeof why, "%s has no torch", py);
        return why;
    }
    if (!mkdtemp(dir) || write_f32(dir, "X.f32", X, tokens * n) ||
        write_f32(dir, "W.f32", W, n * n))
        return "cannot write the problem to /tmp";
    snprintf(cmd, sizeof cmd, "%s scripts/bench_gptq_torch.py %s %lld %lld %lld %d; rm -rf %s",
             py, dir, (long long)tokens, (long long)n, (long long)chunk,
             openblas_get_num_threads(), dir);
    FILE *p = popen(cmd, "r");
    size_t len = p ? fread(buf, 1, sizeof buf - 1, p) : 0;
    int st = p ? pclose(p) : -1;
    buf[len] = 0;
    *out = st == 0 ? cJSON_Parse(buf) : NULL;
    if (!*out) {
        snprintf(why, sizeof why, "scripts/bench_gptq_torch.py failed (status %d)", st);
        return why;
    }
    return NULL;
}

static double json_num(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

/* One solve on a copy of W and H; returns wall seconds, *cpu its process
 * CPU seconds. */
static double solve(const float *W0, const float *H0, int64_t n, const qz_gptq_opts *o,
                    qz_quant_result *res, double *cpu)
{
    float *W = qz_malloc_array((size_t)(n * n), 4), *H = qz_malloc_array((size_t)(n * n), 4);
    QZ_ASSERT(W && H);
    memcpy(W, W0, (size_t)(n * n) * 4);
    memcpy(H, H0, (size_t)(n * n) * 4);
    qz_error err = {0};
    double t0 = qz_now(), c0 = cpu_now();
    int rc = qz_gptq_quantize(W, n, n, H, o, NULL, res, &err);
    double t = qz_now() - t0;
    *cpu = cpu_now() - c0;
    if (rc) {
        fprintf(stderr, "bench_gptq_solve: %s\n", err.msg);
        exit(3);
    }
    free(W);
    free(H);
    return t;
}

int main(void)
{
    bench_start();
    const int64_t n = getenv("QZ_BENCH_SOLVE_N") ? atoll(getenv("QZ_BENCH_SOLVE_N")) : 4096;
    int64_t tokens = getenv("QZ_BENCH_SOLVE_TOKENS") ? atoll(getenv("QZ_BENCH_SOLVE_TOKENS")) : 8192;
    const int64_t chunk = 2048;
    tokens = tokens < chunk ? chunk : tokens / chunk * chunk;
    double scpu, dcpu, speak = gemm_peak(0, 2048, &scpu), dpeak = gemm_peak(1, 2048, &dcpu);
    qz_rng rng;
    qz_rng_seed(&rng, 7);
    float *X = qz_malloc_array((size_t)(tokens * n), 4), *W = qz_malloc_array((size_t)(n * n), 4),
          *H = calloc((size_t)(n * n), 4);
    QZ_ASSERT(X && W && H);
    bench_fill_uniform(X, tokens * n, &rng, 1.0f);
    for (int64_t j = 0; j < n; j++) { /* per-channel scales in [0.25, 4): act-order matters */
        float sc = exp2f((float)(4.0 * qz_rng_uniform(&rng) - 2.0));
        for (int64_t t = 0; t < tokens; t++) X[t * n + j] *= sc;
    }
    bench_fill_uniform(W, n * n, &rng, 1.7f / 64.0f);
    qz_error err = {0};
    int64_t seen = 0;
    double t0 = qz_now();
    for (int64_t t = 0; t < tokens; t += chunk)
        if (qz_hessian_add(H, &seen, X + t * n, chunk, n, 1, &err)) {
            fprintf(stderr, "bench_gptq_solve: %s\n", err.msg);
            return 3;
        }
    qz_hessian_symmetrize(H, n);
    double hess_s = qz_now() - t0;
    qz_gptq_opts o = qz_gptq_opts_default();
    o.bits = 4;
    o.group_size = 128;
    o.sym = 1;
    o.act_order = 1;
    qz_quant_result rb, rr;
    double cb, cr, tb = solve(W, H, n, &o, &rb, &cb);
    o.solver = QZ_GPTQ_SOLVER_REF;
    double tr = solve(W, H, n, &o, &rr, &cr);
    int64_t diff = 0;
    for (int64_t i = 0; i < n * n; i++) diff += rb.codes[i] != rr.codes[i];
    double f32, f64;
    solve_flops(n, n, o.block_size, &f32, &f64);
    double floor_s = f32 / speak + f64 / dpeak, floor_cpu = f32 / scpu + f64 / dcpu;
    cJSON *tj = NULL;
    fprintf(stderr, "bench_gptq_solve: running the torch reference (tens of seconds)\n");
    const char *skip = run_torch(X, W, tokens, n, chunk, &tj);
    if (skip) fprintf(stderr, "bench_gptq_solve: SKIP torch reference: %s\n", skip);
    bench_json_open("gptq_solve");
    printf("  \"problem\": \"%lldx%lld, 4-bit sym, group 128, "
           "act-order, %lld tokens\",\n  \"solver\": \"%s\",\n  \"blas_core\": \"%s\",\n  \"threads\": %d,\n"
           "  \"sgemm_2048_gflops\": %.1f,\n  \"dgemm_2048_gflops\": %.1f,\n"
           "  \"sgemm_2048_gflop_per_cpu_s\": %.1f,\n  \"dgemm_2048_gflop_per_cpu_s\": %.1f,\n"
           "  \"qz_hessian_seconds\": %.3f,\n  \"qz_seconds\": %.3f,\n  \"qz_ref_seconds\": %.3f,\n"
           "  \"qz_cpu_seconds\": %.3f,\n  \"qz_ref_cpu_seconds\": %.3f,\n"
           "  \"blocked_vs_ref_speedup\": %.2f,\n  \"blocked_vs_ref_codes_differing\": %lld,\n"
           "  \"qz_loss\": %.6g,\n  \"qz_ref_loss\": %.6g,\n"
           "  \"floor\": {\"fp32_gflop\": %.1f, \"fp64_gflop\": %.1f, \"seconds\": %.3f, "
           "\"cpu_seconds\": %.3f},\n"
           "  \"qz_fraction_of_floor\": %.3f,\n  \"qz_fraction_of_floor_cpu\": %.3f,\n",
           (long long)n, (long long)n, (long long)tokens,
           qz_gptq_solver_name(QZ_GPTQ_SOLVER_BLOCKED), openblas_get_corename(),
           openblas_get_num_threads(), speak * 1e-9, dpeak * 1e-9, scpu * 1e-9, dcpu * 1e-9, hess_s, tb, tr, cb, cr, tr / tb,
           (long long)diff, rb.loss, rr.loss, f32 * 1e-9, f64 * 1e-9, floor_s, floor_cpu,
           floor_s / tb, floor_cpu / cb);
    if (tj) {
        double ts = json_num(tj, "seconds");
        printf("  \"torch\": {\"version\": \"%s\", \"seconds\": %.3f, \"hessian_seconds\": %.3f, "
               "\"loss\": %.6g},\n  \"torch_over_qz\": %.2f,\n",
               cJSON_IsString(cJSON_GetObjectItemCaseSensitive(tj, "version"))
                   ? cJSON_GetObjectItemCaseSensitive(tj, "version")->valuestring : "?", ts,
               json_num(tj, "hessian_seconds"), json_num(tj, "loss"), ts / tb);
    } else {
        printf("  \"torch\": \"skipped: %s\",\n", skip);
    }
    printf("  \"peak_rss_mib\": %.1f\n}\n", bench_peak_rss_mib());
    cJSON_Delete(tj);
    qz_quant_result_free(&rb);
    qz_quant_result_free(&rr);
    free(X);
    free(W);
    free(H);
    return 0;
}
