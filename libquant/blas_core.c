/* blas_core.c - OpenBLAS core selection at start-up (blas_core.h).
 *
 * Core names and what each needs follow OpenBLAS's DYNAMIC_ARCH table
 * (driver/others/dynamic.c): SkylakeX needs AVX-512 F/BW/DQ/VL, Cooperlake
 * adds AVX-512-BF16, SapphireRapids adds AMX and AVX-512-FP16; Haswell and
 * Zen run the same AVX2+FMA kernels. CPU features come from cpuid leaves 1
 * and 7 (Intel SDM vol. 2A, CPUID), gated by XCR0 as the SDM prescribes.
 * Sections: cpu features | decision | self-check | child processes | start.
 */
#include "blas_core.h"
#include "rng.h"

#include <cblas.h>
#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <math.h>
#include <spawn.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

extern char **environ;

#define ENV_SETTING "QZ_BLAS_CORETYPE"
#define ENV_OPENBLAS "OPENBLAS_CORETYPE"
#define ENV_TIMEOUT "OPENBLAS_THREAD_TIMEOUT"
#define ENV_MARKER "QZ_BLAS_REEXEC"
#define ENV_PROBE "QZ_BLAS_PROBE"

/* ------------------------------------------------------------ cpu features */

static const char *const feature_names[QZ_CPU_FEATURE_COUNT] = {
    "avx", "fma", "avx2", "avx512f", "avx512bw", "avx512dq", "avx512vl", "avx512_vnni", "avx512_bf16", "avx512_fp16",
    "amx_bf16"};

#if defined(__x86_64__) || defined(__i386__)
static uint64_t xgetbv0(void)
{
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return (uint64_t)hi << 32 | lo;
}

uint32_t qz_cpu_features(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & 1u << 27)) return 0; /* no OSXSAVE: no AVX state */
    uint64_t xcr0 = xgetbv0();
    int ymm = (xcr0 & 0x6) == 0x6, zmm = ymm && (xcr0 & 0xe0) == 0xe0, tiles = (xcr0 & 0x60000) == 0x60000;
    uint32_t f = 0;
    if (ymm && (c & 1u << 28)) f |= QZ_CPU_AVX;
    if (ymm && (c & 1u << 12)) f |= QZ_CPU_FMA;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return f;
    unsigned max_sub = a;
    if (ymm && (b & 1u << 5)) f |= QZ_CPU_AVX2;
    if (zmm) {
        if (b & 1u << 16) f |= QZ_CPU_AVX512F;
        if (b & 1u << 17) f |= QZ_CPU_AVX512DQ;
        if (b & 1u << 30) f |= QZ_CPU_AVX512BW;
        if (b & 1u << 31) f |= QZ_CPU_AVX512VL;
        if (c & 1u << 11) f |= QZ_CPU_AVX512_VNNI;
        if (d & 1u << 23) f |= QZ_CPU_AVX512_FP16;
    }
    if (tiles && (d & 1u << 22)) f |= QZ_CPU_AMX_BF16;
    if (zmm && max_sub >= 1 && __get_cpuid_count(7, 1, &a, &b, &c, &d) && (a & 1u << 5)) f |= QZ_CPU_AVX512_BF16;
    return f;
}
#else
uint32_t qz_cpu_features(void) { return 0; }
#endif

char *qz_cpu_feature_names(uint32_t features, char *buf, size_t cap)
{
    size_t len = 0;
    QZ_ASSERT(cap > 0);
    buf[0] = 0;
    for (int i = 0; i < QZ_CPU_FEATURE_COUNT; i++) {
        if (!(features & 1u << i)) continue;
        int w = snprintf(buf + len, cap - len, "%s%s", len ? " " : "", feature_names[i]);
        if (w < 0 || (size_t)w >= cap - len) { /* whole names only */
            buf[len] = 0;
            break;
        }
        len += (size_t)w;
    }
    return buf;
}

/* ---------------------------------------------------------------- decision */

/* Rank = the instruction set the core's sgemm kernels use. */
enum { RANK_SSE = 0, RANK_AVX = 1, RANK_AVX2 = 2, RANK_AVX512 = 3, RANK_BF16 = 4, RANK_AMX = 5 };
static const struct { const char *name; int rank; } cores[] = {
    {"Katmai", RANK_SSE},       {"Coppermine", RANK_SSE},  {"Northwood", RANK_SSE},     {"Prescott", RANK_SSE},
    {"Banias", RANK_SSE},       {"Atom", RANK_SSE},        {"Core2", RANK_SSE},         {"Penryn", RANK_SSE},
    {"Dunnington", RANK_SSE},   {"Nehalem", RANK_SSE},     {"Athlon", RANK_SSE},        {"Opteron", RANK_SSE},
    {"Opteron_SSE3", RANK_SSE}, {"Barcelona", RANK_SSE},   {"Nano", RANK_SSE},          {"Bobcat", RANK_SSE},
    {"Sandybridge", RANK_AVX},  {"Bulldozer", RANK_AVX},   {"Piledriver", RANK_AVX},    {"Steamroller", RANK_AVX},
    {"Excavator", RANK_AVX},    {"Haswell", RANK_AVX2},    {"Zen", RANK_AVX2},          {"SkylakeX", RANK_AVX512},
    {"Cooperlake", RANK_BF16},  {"SapphireRapids", RANK_AMX},
};
#define N_CORES ((int)(sizeof cores / sizeof cores[0]))

static int core_index(const char *name)
{
    for (int i = 0; name && i < N_CORES; i++)
        if (strcasecmp(name, cores[i].name) == 0) return i;
    return -1;
}

const char *qz_blas_core_canonical(const char *name)
{
    int i = core_index(name);
    return i < 0 ? NULL : cores[i].name;
}

const char *qz_blas_mode_name(qz_blas_mode m)
{
    static const char *const names[QZ_BLAS_MODE_COUNT] = {"auto", "keep", "force"};
    return m >= 0 && m < QZ_BLAS_MODE_COUNT ? names[m] : "?";
}

/* The cores this CPU can run, best first: each needs every feature of the
 * ones after it. */
static int cpu_cores(uint32_t cpu, const char **out)
{
    const uint32_t avx512 = QZ_CPU_AVX512F | QZ_CPU_AVX512BW | QZ_CPU_AVX512DQ | QZ_CPU_AVX512VL | QZ_CPU_AVX2 | QZ_CPU_FMA;
    const struct { uint32_t need; const char *core; } table[] = {
        {avx512 | QZ_CPU_AVX512_BF16 | QZ_CPU_AVX512_FP16 | QZ_CPU_AMX_BF16, "SapphireRapids"},
        {avx512 | QZ_CPU_AVX512_BF16, "Cooperlake"},
        {avx512, "SkylakeX"},
        {QZ_CPU_AVX2 | QZ_CPU_FMA | QZ_CPU_AVX, "Haswell"},
        {QZ_CPU_AVX, "Sandybridge"},
    };
    int n = 0;
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if ((cpu & table[i].need) == table[i].need) out[n++] = table[i].core;
    return n;
}

/* Candidates the CPU runs that rank above the running core. */
static int better_cores(const char *running, uint32_t cpu, const char **out)
{
    const char *all[QZ_BLAS_MAX_CANDIDATES];
    int n_all = cpu_cores(cpu, all), n = 0, r = cores[core_index(running)].rank;
    for (int i = 0; i < n_all; i++)
        if (cores[core_index(all[i])].rank > r) out[n++] = all[i];
    return n;
}

static int decide_force(const char *running, const char *name, const qz_blas_env *env, qz_blas_choice *out,
                        qz_error *err)
{
    const char *want = qz_blas_core_canonical(name);
    if (!want)
        return qz_fail(err, QZ_EINPUT, ENV_SETTING "='%s': not an OpenBLAS core name (auto, keep, or e.g. SkylakeX, Haswell)",
                       name);
    if (running && strcasecmp(running, want) == 0) {
        out->reason = "the forced core is running";
        return QZ_OK;
    }
    if (!env->dynamic_arch)
        return qz_fail(err, QZ_EINPUT, ENV_SETTING "=%s: this OpenBLAS is built without DYNAMIC_ARCH (its one core is %s)",
                       want, running ? running : "unknown");
    out->candidates[out->n_candidates++] = want;
    out->reason = "forced by " ENV_SETTING;
    return QZ_OK;
}

int qz_blas_decide(const char *running, uint32_t cpu, const qz_blas_env *env, qz_blas_choice *out, qz_error *err)
{
    memset(out, 0, sizeof *out);
    const char *s = env->setting;
    out->mode = !s || strcmp(s, "auto") == 0 ? QZ_BLAS_AUTO : strcmp(s, "keep") == 0 ? QZ_BLAS_KEEP : QZ_BLAS_FORCE;
    if (out->mode == QZ_BLAS_FORCE && !*s) return qz_fail(err, QZ_EINPUT, ENV_SETTING " is empty: use auto, keep or a core name");
    if (env->reexec_from) {
        out->reason = "re-executed already";
        return QZ_OK;
    }
    if (out->mode != QZ_BLAS_KEEP && env->threads > 1 && !env->user_timeout) out->thread_timeout = QZ_BLAS_THREAD_TIMEOUT;
    if (out->mode == QZ_BLAS_FORCE) return decide_force(running, s, env, out, err);
    if (out->mode == QZ_BLAS_KEEP) out->reason = ENV_SETTING "=keep";
    else if (env->user_core) out->reason = ENV_OPENBLAS " set by the user";
    else if (!env->dynamic_arch) out->reason = "OpenBLAS built without DYNAMIC_ARCH";
    else if (core_index(running) < 0) out->reason = "running core not in qz's table";
    else if ((out->n_candidates = better_cores(running, cpu, out->candidates)) == 0)
        out->reason = "running core is the best for this CPU";
    else out->reason = "a better core for this CPU";
    return QZ_OK;
}

/* -------------------------------------------------------------- self-check */

static void fill(float *x, int64_t n, qz_rng *r)
{
    for (int64_t i = 0; i < n; i++) x[i] = (float)(2.0 * qz_rng_uniform(r) - 1.0);
}

/* Largest |c - ref| / bound over C (m x n, row-major), where element (i,j)
 * is alpha * sum_k A(i,k) B(k,j) + beta * c0, A(i,k) = a[i*sai + k*sak],
 * B(k,j) = b[k*sbk + j*sbj]. */
typedef struct { const float *a, *b; int64_t sai, sak, sbk, sbj; } gemm_view;
static double worst_error(const float *c, const float *c0, int64_t m, int64_t n, int64_t k, const gemm_view *v,
                          double alpha, double beta, int upper_only)
{
    double worst = 0;
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = upper_only ? i : 0; j < n; j++) {
            double ref = beta * c0[i * n + j], mag = fabs(ref);
            for (int64_t p = 0; p < k; p++) {
                double t = alpha * v->a[i * v->sai + p * v->sak] * v->b[p * v->sbk + j * v->sbj];
                ref += t;
                mag += fabs(t);
            }
            double bound = 4.0 * (double)(k + 2) * FLT_EPSILON * mag + FLT_MIN;
            double e = fabs(c[i * n + j] - ref) / bound;
            if (!(e <= worst)) worst = isnan(e) ? INFINITY : e;
        }
    return worst;
}

int qz_blas_selfcheck(double *worst)
{
    enum { M = 97, N = 83, K = 211, NS = 75 };
    float *a = qz_malloc_array((size_t)M * K, sizeof *a), *b = qz_malloc_array((size_t)K * N, sizeof *b);
    float *c = qz_malloc_array((size_t)M * N, sizeof *c), *c0 = qz_malloc_array((size_t)M * N, sizeof *c0);
    QZ_ASSERT(a && b && c && c0);
    qz_rng r;
    qz_rng_seed(&r, 20261202);
    fill(a, (int64_t)M * K, &r);
    fill(b, (int64_t)K * N, &r);
    fill(c0, (int64_t)M * N, &r);
    /* C = A * B^T, B stored (N x K) as qz's linears are. */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, a, K, b, K, 0.0f, c, N);
    gemm_view nt = {a, b, K, 1, 1, K};
    double w = worst_error(c, c0, M, N, K, &nt, 1.0, 0.0, 0);
    /* C = 0.75 A B + 0.5 C0, B stored (K x N). */
    memcpy(c, c0, (size_t)M * N * sizeof *c);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 0.75f, a, K, b, N, 0.5f, c, N);
    gemm_view nn = {a, b, K, 1, N, 1};
    w = fmax(w, worst_error(c, c0, M, N, K, &nn, 0.75, 0.5, 0));
    /* Upper triangle of C = 2 X^T X, X (K x NS) with leading dimension NS, as the Hessian is accumulated. */
    memset(c, 0, (size_t)NS * NS * sizeof *c);
    cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, NS, K, 2.0f, a, NS, 0.0f, c, NS);
    gemm_view tn = {a, a, 1, NS, NS, 1};
    w = fmax(w, worst_error(c, c, NS, NS, K, &tn, 2.0, 0.0, 1));
    free(a);
    free(b);
    free(c);
    free(c0);
    *worst = w;
    return w <= 1.0;
}

/* --------------------------------------------------------- child processes */

/* environ with every NAME of add[] replaced; the strings are borrowed. */
static char **merged_env(const char *const *add, int n_add)
{
    size_t n = 0;
    while (environ[n]) n++;
    char **env = qz_malloc_array(n + (size_t)n_add + 1, sizeof *env);
    if (!env) return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        int replaced = 0;
        for (int j = 0; j < n_add && !replaced; j++) {
            size_t len = (size_t)(strchr(add[j], '=') - add[j]) + 1;
            replaced = strncmp(environ[i], add[j], len) == 0;
        }
        if (!replaced) env[k++] = environ[i];
    }
    for (int j = 0; j < n_add; j++) env[k++] = (char *)add[j];
    env[k] = NULL;
    return env;
}

static int wait_child(pid_t pid, qz_error *err)
{
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR) return qz_fail(err, QZ_EINTERNAL, "waitpid: %s", strerror(errno));
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0) return QZ_OK;
    if (WIFSIGNALED(st)) return qz_fail(err, QZ_EINTERNAL, "probe child killed by signal %d", WTERMSIG(st));
    return qz_fail(err, QZ_EINTERNAL, "probe child exited with status %d", WEXITSTATUS(st));
}

static void read_all(int fd, char *out, size_t cap)
{
    size_t len = 0;
    char sink[256];
    for (;;) {
        char *p = len + 1 < cap ? out + len : sink;
        size_t room = len + 1 < cap ? cap - 1 - len : sizeof sink;
        ssize_t got = read(fd, p, room);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) break;
        if (p != sink) len += (size_t)got;
    }
    out[len] = 0;
}

int qz_blas_run_self(const char *const *env_add, int n_add, char *out, size_t cap, qz_error *err)
{
    QZ_ASSERT(cap > 0);
    out[0] = 0;
    int fd[2];
    if (pipe(fd)) return qz_fail(err, QZ_EINTERNAL, "pipe: %s", strerror(errno));
    char **env = merged_env(env_add, n_add);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, fd[1], 1);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addclose(&fa, fd[0]);
    posix_spawn_file_actions_addclose(&fa, fd[1]);
    char *argv[] = {"qz-blas-probe", NULL};
    pid_t pid;
    int rc = env ? posix_spawn(&pid, "/proc/self/exe", &fa, NULL, argv, env) : ENOMEM;
    posix_spawn_file_actions_destroy(&fa);
    free(env);
    close(fd[1]);
    if (rc) {
        close(fd[0]);
        return qz_fail(err, QZ_EINTERNAL, "cannot start /proc/self/exe: %s", strerror(rc));
    }
    read_all(fd[0], out, cap);
    close(fd[0]);
    return wait_child(pid, err);
}

/* 1 when a child with OPENBLAS_CORETYPE=core loads that core and passes
 * the self-check; *why says otherwise. */
static int probe_core(const char *core, char *why, size_t cap)
{
    char set[64], out[128], got[64] = "";
    snprintf(set, sizeof set, ENV_OPENBLAS "=%s", core);
    const char *add[] = {set, ENV_PROBE "=1", ENV_SETTING "=keep"};
    qz_error err = {0};
    if (qz_blas_run_self(add, 3, out, sizeof out, &err)) {
        snprintf(why, cap, "%s: %.160s", core, err.msg);
        return 0;
    }
    int ok = 0;
    double worst = 0;
    if (sscanf(out, "%63s %d %lf", got, &ok, &worst) != 3) {
        snprintf(why, cap, "%s: unreadable probe answer", core);
        return 0;
    }
    if (strcasecmp(got, core) != 0) snprintf(why, cap, "this OpenBLAS has no %s (it loads %s)", core, got);
    else if (!ok) snprintf(why, cap, "%s failed the sgemm/ssyrk self-check (error %.3g x bound)", core, worst);
    return strcasecmp(got, core) == 0 && ok;
}

/* The first candidate that loads and passes, or NULL (*why: the last failure). */
static const char *first_usable(const char *const *cand, int n, char *why, size_t cap)
{
    for (int i = 0; i < n; i++)
        if (probe_core(cand[i], why, cap)) return cand[i];
    return NULL;
}

/* ------------------------------------------------------------------- start */

static struct {
    int started;
    qz_blas_mode mode;
    char detected[64], action[16], reason[256];
} state;

/* argv of this process, as it was started: NUL-separated /proc/self/cmdline. */
static char **self_argv(char **buf)
{
    FILE *f = fopen("/proc/self/cmdline", "rb");
    if (!f) return NULL;
    size_t cap = 4096, len = 0;
    char *s = malloc(cap);
    for (size_t got; s && (got = fread(s + len, 1, cap - len, f)) > 0;) {
        len += got;
        char *t = len == cap ? realloc(s, cap *= 2) : s; /* all of it: the re-exec repeats argv exactly */
        if (!t) free(s);
        s = t;
    }
    fclose(f);
    if (!s || len == 0 || s[len - 1] != 0) {
        free(s);
        return NULL;
    }
    size_t argc = 0;
    for (size_t i = 0; i < len; i++) argc += s[i] == 0;
    char **argv = qz_malloc_array(argc + 1, sizeof *argv);
    if (!argv) {
        free(s);
        return NULL;
    }
    for (size_t i = 0, a = 0; a < argc; i += strlen(s + i) + 1) argv[a++] = s + i;
    argv[argc] = NULL;
    *buf = s;
    return argv;
}

/* An environment variable as it was, to put back after a failed execv. */
typedef struct { const char *name; int had; char value[64]; } saved_var;

static saved_var save_var(const char *name)
{
    saved_var v = {name, getenv(name) != NULL, ""};
    if (v.had) snprintf(v.value, sizeof v.value, "%s", getenv(name));
    return v;
}

static void restore_var(const saved_var *v)
{
    if (v->had) setenv(v->name, v->value, 1);
    else unsetenv(v->name);
}

/* execv with OPENBLAS_CORETYPE=core (unless NULL), OPENBLAS_THREAD_TIMEOUT=
 * timeout (unless NULL) and the marker; returns only on failure. */
static void reexec(const char *core, const char *timeout, const char *running, char *why, size_t cap)
{
    char *buf = NULL;
    char **argv = self_argv(&buf);
    saved_var had_core = save_var(ENV_OPENBLAS), had_timeout = save_var(ENV_TIMEOUT);
    if (argv && (!core || setenv(ENV_OPENBLAS, core, 1) == 0) && (!timeout || setenv(ENV_TIMEOUT, timeout, 1) == 0) &&
        setenv(ENV_MARKER, running, 1) == 0) {
        fflush(NULL);
        execv("/proc/self/exe", argv);
    }
    snprintf(why, cap, "cannot re-execute with %s: %s", core ? core : ENV_TIMEOUT,
             argv ? strerror(errno) : "no /proc/self/cmdline");
    unsetenv(ENV_MARKER);
    restore_var(&had_core);
    restore_var(&had_timeout);
    free(argv);
    free(buf);
}

static int dynamic_arch(void) { return strstr(openblas_get_config(), "DYNAMIC_ARCH") != NULL; }

static void set_state(qz_blas_mode mode, const char *detected, const char *action, const char *reason)
{
    state.started = 1;
    state.mode = mode;
    snprintf(state.detected, sizeof state.detected, "%s", detected);
    snprintf(state.action, sizeof state.action, "%s", action);
    snprintf(state.reason, sizeof state.reason, "%s", reason);
}

/* The probe child's answer: "CORE OK WORST". */
static int probe_answer(void)
{
    double worst;
    int ok = qz_blas_selfcheck(&worst);
    printf("%s %d %.6g\n", openblas_get_corename(), ok, worst);
    fflush(stdout);
    return 1;
}

int qz_blas_core_start(qz_error *err)
{
    if (getenv(ENV_PROBE)) return probe_answer();
    const char *running = openblas_get_corename();
    char marker[64] = "";
    if (getenv(ENV_MARKER)) snprintf(marker, sizeof marker, "%s", getenv(ENV_MARKER));
    unsetenv(ENV_MARKER); /* a qz tool this one starts decides for itself */
    qz_blas_env env = {getenv(ENV_SETTING), getenv(ENV_OPENBLAS), *marker ? marker : NULL, dynamic_arch(),
                       getenv(ENV_TIMEOUT), openblas_get_parallel() == 1 ? openblas_get_num_threads() : 1};
    qz_blas_choice ch;
    int rc = qz_blas_decide(running, qz_cpu_features(), &env, &ch, err);
    if (rc) return rc;
    if (*marker && strcasecmp(marker, running) != 0) {
        char why[128];
        snprintf(why, sizeof why, "re-executed from %s, the core OpenBLAS picked", marker);
        set_state(ch.mode, marker, "switched", why);
        return QZ_OK;
    }
    if (*marker) { /* for the timeout alone: why the core stayed, as decided before the re-exec */
        qz_blas_env before = env;
        before.reexec_from = before.user_timeout = NULL;
        qz_blas_choice first;
        char why[256];
        if ((rc = qz_blas_decide(running, qz_cpu_features(), &before, &first, err))) return rc;
        snprintf(why, sizeof why, "%s; re-executed with " ENV_TIMEOUT "=%s",
                 first.n_candidates ? "no better core loaded and passed the self-check" : first.reason,
                 env.user_timeout ? env.user_timeout : "?");
        set_state(ch.mode, running, "kept", why);
        return QZ_OK;
    }
    char why[256] = "";
    const char *use = ch.n_candidates ? first_usable(ch.candidates, ch.n_candidates, why, sizeof why) : NULL;
    if (ch.mode == QZ_BLAS_FORCE && ch.n_candidates && !use)
        return qz_fail(err, QZ_EINPUT, ENV_SETTING "=%s: %s", ch.candidates[0], why);
    if (use || ch.thread_timeout) reexec(use, ch.thread_timeout, running, why, sizeof why);
    if (ch.mode == QZ_BLAS_FORCE && ch.n_candidates)
        return qz_fail(err, QZ_EINPUT, ENV_SETTING "=%s: %s", ch.candidates[0], why);
    set_state(ch.mode, running, "kept", *why ? why : ch.reason);
    return QZ_OK;
}

void qz_blas_core_best(char *name, size_t cap)
{
    const char *running = openblas_get_corename(), *cand[QZ_BLAS_MAX_CANDIDATES];
    int n = core_index(running) < 0 || !dynamic_arch() ? 0 : better_cores(running, qz_cpu_features(), cand);
    char why[256];
    const char *best = first_usable(cand, n, why, sizeof why);
    snprintf(name, cap, "%s", best ? best : running);
}

cJSON *qz_blas_core_json(void)
{
    const char *config = openblas_get_config(), *running = openblas_get_corename();
    char version[32] = "", cpu[256];
    sscanf(config, "OpenBLAS %31s", version);
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "library", "OpenBLAS");
    cJSON_AddStringToObject(j, "version", version);
    cJSON_AddStringToObject(j, "config", config);
    cJSON_AddStringToObject(j, "core", running);
    cJSON_AddStringToObject(j, "detected", state.started ? state.detected : running);
    cJSON_AddNumberToObject(j, "threads", openblas_get_num_threads());
    cJSON_AddStringToObject(j, "thread_timeout", getenv(ENV_TIMEOUT) ? getenv(ENV_TIMEOUT) : "default");
    cJSON_AddStringToObject(j, "cpu", qz_cpu_feature_names(qz_cpu_features(), cpu, sizeof cpu));
    cJSON_AddStringToObject(j, "selection", state.started ? qz_blas_mode_name(state.mode) : "none");
    cJSON_AddStringToObject(j, "action", state.started ? state.action : "kept");
    cJSON_AddStringToObject(j, "reason", state.started ? state.reason : "qz_blas_core_start not called");
    return j;
}
