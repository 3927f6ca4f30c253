/* test_blas_core.c - the OpenBLAS core decision (qz_blas_decide) on a table
 * of (running core, CPU features, environment) -> cores to try and the
 * thread timeout to set, worked out
 * by hand from OpenBLAS's core requirements; the feature names; the
 * sgemm/ssyrk self-check on the running core. The re-exec itself runs in
 * tests/cli/test_blas.sh. */
#include "qz_test.h"
#include "blas_core.h"

#define AVX2_CPU (QZ_CPU_AVX | QZ_CPU_FMA | QZ_CPU_AVX2)
#define SKX_CPU (AVX2_CPU | QZ_CPU_AVX512F | QZ_CPU_AVX512BW | QZ_CPU_AVX512DQ | QZ_CPU_AVX512VL)
#define CPX_CPU (SKX_CPU | QZ_CPU_AVX512_VNNI | QZ_CPU_AVX512_BF16)
#define SPR_CPU (CPX_CPU | QZ_CPU_AVX512_FP16 | QZ_CPU_AMX_BF16)

typedef struct {
    const char *running;
    uint32_t cpu;
    qz_blas_env env;
    int status;             /* QZ_OK or QZ_EINPUT */
    qz_blas_mode mode;
    const char *want;       /* candidates, space separated ("" = keep) */
    const char *reason;     /* substring of the reason */
    const char *timeout;    /* OPENBLAS_THREAD_TIMEOUT to set, NULL: none */
} decide_case;


static const decide_case cases[] = {
    /* The machine: AVX-512 + BF16/FP16/VNNI + AMX, OpenBLAS 0.3.21 falls back to Prescott. */
    {"Prescott", SPR_CPU, {NULL, NULL, NULL, 1, NULL, 1}, QZ_OK, QZ_BLAS_AUTO, "SapphireRapids Cooperlake SkylakeX Haswell Sandybridge", "better", NULL},
    {"Prescott", CPX_CPU, {"auto", NULL, NULL, 1, NULL, 1}, QZ_OK, QZ_BLAS_AUTO, "Cooperlake SkylakeX Haswell Sandybridge", "better", NULL},
    {"Prescott", SKX_CPU, {NULL, NULL, NULL, 1, NULL, 1}, QZ_OK, QZ_BLAS_AUTO, "SkylakeX Haswell Sandybridge", "better", NULL},
    /* AVX-512 without BW/DQ/VL (Xeon Phi) is not SkylakeX. */
    {"Prescott", AVX2_CPU | QZ_CPU_AVX512F, {NULL, NULL, NULL, 1, NULL, 1}, QZ_OK, QZ_BLAS_AUTO, "Haswell Sandybridge", "better", NULL},
    /* BF16 without the AVX-512 base is no Cooperlake. */
    {"Nehalem", AVX2_CPU | QZ_CPU_AVX512_BF16, {NULL, NULL, NULL, 1, NULL, 1}, QZ_OK, QZ_BLAS_AUTO, "Haswell Sandybridge", "better", NULL},
    {"Sandybridge", SKX_CPU, {NULL, NULL, NULL, 1, NULL, 1}, QZ_OK, QZ_BLAS_AUTO, "SkylakeX Haswell", "better", NULL},
    /* Only cores ranked above the running one. */
    {"Haswell", CPX_CPU, {NULL, NULL, NULL, 1, NULL, 1}, QZ_OK, QZ_BLAS_AUTO, "Cooperlake SkylakeX", "better", NULL},
    {"Zen", SKX_CPU, {NULL, NULL, NULL, 1, NULL, 1}, QZ_OK, QZ_BLAS_AUTO, "SkylakeX", "better", NULL},
    {"SkylakeX", CPX_CPU, {NULL, NULL, NULL, 1, NULL, 1}, QZ_OK, QZ_BLAS_AUTO, "Cooperlake", "better", NULL},
    /* Already the best: Zen and Haswell run the same AVX2 kernels. */
    {"Zen", AVX2_CPU, {NULL, NULL, NULL, 1, NULL, 1}, QZ_OK, QZ_BLAS_AUTO, "", "best", NULL},
    {"Haswell", AVX2_CPU, {NULL, NULL, NULL, 1, NULL, 1}, QZ_OK, QZ_BLAS_AUTO, "", "best", NULL},
    {"Cooperlake", CPX_CPU, {NULL, NULL, NULL, 1, NULL, 1}, QZ_OK, QZ_BLAS_AUTO, "", "best", NULL},
    {"SkylakeX", SKX_CPU, {NULL, NULL, NULL, 1, NULL, 1}, QZ_OK, QZ_BLAS_AUTO, "", "best", NULL},
    {"Prescott", 0, {NULL, NULL, NULL, 1, NULL, 1}, QZ_OK, QZ_BLAS_AUTO, "", "best", NULL},
    /* A core above what the CPU supports (user's or OpenBLAS's choice) is never lowered. */
    {"SkylakeX", AVX2_CPU, {NULL, NULL, NULL, 1, NULL, 1}, QZ_OK, QZ_BLAS_AUTO, "", "best", NULL},
    /* The running core's name matches in any case. */
    {"prescott", AVX2_CPU, {NULL, NULL, NULL, 1, NULL, 1}, QZ_OK, QZ_BLAS_AUTO, "Haswell Sandybridge", "better", NULL},
    /* Nothing to do: the user chose, keep, no DYNAMIC_ARCH, unknown core, re-executed already. */
    {"Prescott", SPR_CPU, {NULL, "Prescott", NULL, 1, NULL, 1}, QZ_OK, QZ_BLAS_AUTO, "", "OPENBLAS_CORETYPE set by the user", NULL},
    {"Prescott", SPR_CPU, {"keep", NULL, NULL, 1, NULL, 1}, QZ_OK, QZ_BLAS_KEEP, "", "keep", NULL},
    {"Prescott", SPR_CPU, {NULL, NULL, NULL, 0, NULL, 1}, QZ_OK, QZ_BLAS_AUTO, "", "DYNAMIC_ARCH", NULL},
    {"neoversen1", SPR_CPU, {NULL, NULL, NULL, 1, NULL, 1}, QZ_OK, QZ_BLAS_AUTO, "", "not in qz's table", NULL},
    {"SkylakeX", SPR_CPU, {NULL, NULL, "Prescott", 1, NULL, 1}, QZ_OK, QZ_BLAS_AUTO, "", "re-executed", NULL},
    {"Prescott", SPR_CPU, {"Haswell", NULL, "Cooperlake", 1, NULL, 1}, QZ_OK, QZ_BLAS_FORCE, "", "re-executed", NULL},
    /* Forcing: any known name, canonical spelling, even over the user's OPENBLAS_CORETYPE and an older core. */
    {"Cooperlake", CPX_CPU, {"prescott", NULL, NULL, 1, NULL, 1}, QZ_OK, QZ_BLAS_FORCE, "Prescott", "forced", NULL},
    {"Prescott", 0, {"SKYLAKEX", "Prescott", NULL, 1, NULL, 1}, QZ_OK, QZ_BLAS_FORCE, "SkylakeX", "forced", NULL},
    {"Haswell", AVX2_CPU, {"Haswell", NULL, NULL, 1, NULL, 1}, QZ_OK, QZ_BLAS_FORCE, "", "forced core is running", NULL},
    {"Haswell", AVX2_CPU, {"Haswell", NULL, NULL, 0, NULL, 1}, QZ_OK, QZ_BLAS_FORCE, "", "forced core is running", NULL},
    /* Errors: an unknown name, an empty value, forcing without DYNAMIC_ARCH. */
    {"Haswell", AVX2_CPU, {"Skylake-X", NULL, NULL, 1, NULL, 1}, QZ_EINPUT, QZ_BLAS_FORCE, "", "", NULL},
    {"Haswell", AVX2_CPU, {"", NULL, NULL, 1, NULL, 1}, QZ_EINPUT, QZ_BLAS_FORCE, "", "", NULL},
    {"Haswell", AVX2_CPU, {"SkylakeX", NULL, NULL, 0, NULL, 1}, QZ_EINPUT, QZ_BLAS_FORCE, "", "", NULL},
    /* The thread timeout (the rows above run one thread): set
     * with more than one thread in auto and forced modes, whatever the core
     * decision; never over the user's own, with keep, or after a re-exec. */
    {"Cooperlake", CPX_CPU, {NULL, NULL, NULL, 1, NULL, 2}, QZ_OK, QZ_BLAS_AUTO, "", "best", "16"},
    {"Prescott", CPX_CPU, {NULL, NULL, NULL, 1, NULL, 4}, QZ_OK, QZ_BLAS_AUTO, "Cooperlake SkylakeX Haswell Sandybridge", "better", "16"},
    {"Prescott", SPR_CPU, {NULL, "Prescott", NULL, 1, NULL, 2}, QZ_OK, QZ_BLAS_AUTO, "", "set by the user", "16"},
    {"Prescott", SPR_CPU, {NULL, NULL, NULL, 0, NULL, 2}, QZ_OK, QZ_BLAS_AUTO, "", "DYNAMIC_ARCH", "16"},
    {"Cooperlake", CPX_CPU, {"prescott", NULL, NULL, 1, NULL, 2}, QZ_OK, QZ_BLAS_FORCE, "Prescott", "forced", "16"},
    {"Cooperlake", CPX_CPU, {NULL, NULL, NULL, 1, "20", 2}, QZ_OK, QZ_BLAS_AUTO, "", "best", NULL},
    {"Cooperlake", CPX_CPU, {NULL, NULL, NULL, 1, NULL, 1}, QZ_OK, QZ_BLAS_AUTO, "", "best", NULL},
    {"Prescott", SPR_CPU, {"keep", NULL, NULL, 1, NULL, 2}, QZ_OK, QZ_BLAS_KEEP, "", "keep", NULL},
    {"Cooperlake", CPX_CPU, {NULL, NULL, "Cooperlake", 1, NULL, 2}, QZ_OK, QZ_BLAS_AUTO, "", "re-executed", NULL},
};

static void joined(const qz_blas_choice *ch, char *buf, size_t cap)
{
    buf[0] = 0;
    for (int i = 0; i < ch->n_candidates; i++) {
        size_t len = strlen(buf);
        snprintf(buf + len, cap - len, "%s%s", i ? " " : "", ch->candidates[i]);
    }
}

static void test_decide_table(void)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const decide_case *t = &cases[i];
        qz_blas_choice ch;
        qz_error err = {0};
        int rc = qz_blas_decide(t->running, t->cpu, &t->env, &ch, &err);
        CHECK(rc == t->status, "case %zu (%s): status %d, want %d (%s)", i, t->running, rc, t->status, err.msg);
        if (rc != QZ_OK || rc != t->status) continue;
        char got[256];
        joined(&ch, got, sizeof got);
        CHECK(strcmp(got, t->want) == 0, "case %zu (%s): candidates '%s', want '%s'", i, t->running, got, t->want);
        CHECK(ch.mode == t->mode, "case %zu: mode %s, want %s", i, qz_blas_mode_name(ch.mode), qz_blas_mode_name(t->mode));
        CHECK(ch.reason && strstr(ch.reason, t->reason), "case %zu: reason '%s' lacks '%s'", i, ch.reason, t->reason);
        CHECK(t->timeout ? ch.thread_timeout && strcmp(ch.thread_timeout, t->timeout) == 0 : !ch.thread_timeout,
              "case %zu: thread timeout %s, want %s", i, ch.thread_timeout ? ch.thread_timeout : "none",
              t->timeout ? t->timeout : "none");
    }
}

static void test_error_messages(void)
{
    qz_blas_choice ch;
    qz_error err = {0};
    qz_blas_env bad = {"Skylake-X", NULL, NULL, 1, NULL, 1};
    CHECK(qz_blas_decide("Haswell", AVX2_CPU, &bad, &ch, &err) == QZ_EINPUT, "status");
    CHECK(strstr(err.msg, "QZ_BLAS_CORETYPE='Skylake-X'") && strstr(err.msg, "not an OpenBLAS core name"), "msg: %s", err.msg);
    qz_blas_env fixed = {"SkylakeX", NULL, NULL, 0, NULL, 1};
    CHECK(qz_blas_decide("Haswell", AVX2_CPU, &fixed, &ch, &err) == QZ_EINPUT, "status");
    CHECK(strstr(err.msg, "without DYNAMIC_ARCH") && strstr(err.msg, "Haswell"), "msg: %s", err.msg);
}

static void test_names(void)
{
    char buf[256];
    CHECK(strcmp(qz_cpu_feature_names(QZ_CPU_AVX | QZ_CPU_AVX512_BF16 | QZ_CPU_AMX_BF16, buf, sizeof buf),
                 "avx avx512_bf16 amx_bf16") == 0, "names: '%s'", buf);
    CHECK(strcmp(qz_cpu_feature_names(0, buf, sizeof buf), "") == 0, "empty: '%s'", buf);
    char small[8];
    CHECK(strcmp(qz_cpu_feature_names(QZ_CPU_AVX | QZ_CPU_AVX2, small, sizeof small), "avx") == 0, "cut: '%s'", small);
    CHECK(qz_blas_core_canonical("sapphirerapids") && strcmp(qz_blas_core_canonical("sapphirerapids"), "SapphireRapids") == 0,
          "canonical");
    CHECK(qz_blas_core_canonical("Skylake") == NULL, "Skylake is no OpenBLAS x86_64 core name");
    CHECK(strcmp(qz_blas_mode_name(QZ_BLAS_FORCE), "force") == 0, "mode name");
}

/* The running core passes; features are consistent (AVX-512 implies AVX2). */
static void test_selfcheck_and_cpu(void)
{
    double worst = -1;
    CHECK(qz_blas_selfcheck(&worst) == 1, "self-check failed on the running core: %g x bound", worst);
    CHECK(worst >= 0 && worst <= 1, "worst %g", worst);
    uint32_t f = qz_cpu_features();
    if (f & QZ_CPU_AVX512F) CHECK((f & QZ_CPU_AVX2) && (f & QZ_CPU_AVX), "AVX-512 without AVX2: %#x", f);
    if (f & QZ_CPU_AVX2) CHECK(f & QZ_CPU_AVX, "AVX2 without AVX: %#x", f);
}

int main(void)
{
    QZ_RUN(test_decide_table);
    QZ_RUN(test_error_messages);
    QZ_RUN(test_names);
    QZ_RUN(test_selfcheck_and_cpu);
    QZ_TEST_EXIT();
}
