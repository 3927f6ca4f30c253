/* blas_core.h - which OpenBLAS kernels qz runs on, and choosing better ones.
 *
 * A DYNAMIC_ARCH OpenBLAS picks its kernels ("core": Prescott, Haswell,
 * SkylakeX, Cooperlake, ...) once, when the library loads, from its own
 * CPU table. An OpenBLAS older than the CPU does not know the CPU and falls
 * back to an old core (Debian 12's 0.3.21 runs SSE3 "Prescott" kernels on
 * some AVX-512 Xeons: 4x slower sgemm). The core can only be changed before
 * the library loads, through OPENBLAS_CORETYPE, so qz re-executes itself:
 *
 *   qz_blas_core_start() at tool start-up reads the running core and the
 *   CPU's features (cpuid, with the OS's XSAVE state), and decides
 *   (qz_blas_decide, a pure function) whether a better core exists. If so,
 *   each candidate is tried in a child process (this same executable, with
 *   OPENBLAS_CORETYPE=candidate and QZ_BLAS_PROBE=1), which reports the core
 *   OpenBLAS actually loaded (an OpenBLAS that lacks the name loads its
 *   default) and runs a short sgemm/ssyrk self-check against a scalar
 *   reference. The first candidate that loads and passes is used: the
 *   process execv()s /proc/self/exe with the same arguments,
 *   OPENBLAS_CORETYPE set and a marker (QZ_BLAS_REEXEC) so it never loops.
 *
 * The same re-exec sets OPENBLAS_THREAD_TIMEOUT (also read only at load)
 * when OpenBLAS runs more than one thread and the user did not set it:
 * OpenBLAS's idle threads spin on sched_yield for 2^28 TSC cycles (about
 * 0.1 s) after each call, so while qz's own worker threads run (attention,
 * the NLL) the spinners take a share of the cores from them; at 2^16
 * cycles (tens of microseconds) they bridge back-to-back BLAS calls and
 * sleep through the rest (qz-eval 10% faster on 2 cores). When the running
 * core is already the best, the process re-executes for this alone.
 *
 * QZ_BLAS_CORETYPE controls it: auto (default), keep (never re-execute),
 * or a core name (force it; an error when this OpenBLAS lacks it or it
 * fails the self-check). In auto mode a user's own OPENBLAS_CORETYPE and
 * OPENBLAS_THREAD_TIMEOUT are respected. Linux only (/proc/self/exe);
 * elsewhere, and on CPUs without AVX, nothing is changed.
 * docs/performance.md "BLAS kernels".
 */
#ifndef QZ_BLAS_CORE_H
#define QZ_BLAS_CORE_H

#include "qz_common.h"

#include <cJSON.h>

/* CPU features that decide the OpenBLAS core; each set only when the OS
 * also saves the register state it needs (XCR0). */
typedef enum qz_cpu_feature {
    QZ_CPU_AVX = 1 << 0,
    QZ_CPU_FMA = 1 << 1,
    QZ_CPU_AVX2 = 1 << 2,
    QZ_CPU_AVX512F = 1 << 3,
    QZ_CPU_AVX512BW = 1 << 4,
    QZ_CPU_AVX512DQ = 1 << 5,
    QZ_CPU_AVX512VL = 1 << 6,
    QZ_CPU_AVX512_VNNI = 1 << 7,
    QZ_CPU_AVX512_BF16 = 1 << 8,
    QZ_CPU_AVX512_FP16 = 1 << 9,
    QZ_CPU_AMX_BF16 = 1 << 10,
    QZ_CPU_FEATURE_COUNT = 11,
} qz_cpu_feature;

/* This CPU's features (0 on other architectures). */
uint32_t qz_cpu_features(void);
/* "avx fma avx2 ..." (space separated, lower case) into buf; returns buf. */
char *qz_cpu_feature_names(uint32_t features, char *buf, size_t cap);

typedef enum qz_blas_mode { QZ_BLAS_AUTO = 0, QZ_BLAS_KEEP = 1, QZ_BLAS_FORCE = 2, QZ_BLAS_MODE_COUNT } qz_blas_mode;
const char *qz_blas_mode_name(qz_blas_mode m);

/* What the decision reads from the environment and OpenBLAS. */
typedef struct qz_blas_env {
    const char *setting;     /* QZ_BLAS_CORETYPE, or NULL (auto) */
    const char *user_core;   /* OPENBLAS_CORETYPE, or NULL */
    const char *reexec_from; /* QZ_BLAS_REEXEC: the core before qz re-executed, or NULL */
    int dynamic_arch;        /* openblas_get_config() lists DYNAMIC_ARCH */
    const char *user_timeout; /* OPENBLAS_THREAD_TIMEOUT, or NULL */
    int threads;             /* openblas_get_num_threads() of a pthreads OpenBLAS (1 for an OpenMP or serial one) */
} qz_blas_env;

/* The OPENBLAS_THREAD_TIMEOUT qz sets (log2 of TSC cycles; OpenBLAS's own
 * default is 28). */
#define QZ_BLAS_THREAD_TIMEOUT "16"

#define QZ_BLAS_MAX_CANDIDATES 5
typedef struct qz_blas_choice {
    qz_blas_mode mode;
    /* Cores to try, most preferred first (static names); 0: keep running. */
    const char *candidates[QZ_BLAS_MAX_CANDIDATES];
    int n_candidates;
    const char *thread_timeout; /* OPENBLAS_THREAD_TIMEOUT to re-execute with (static), or NULL */
    const char *reason; /* static: why */
} qz_blas_choice;

/* The pure decision: running core (openblas_get_corename()), CPU features
 * and environment -> the cores to try, and the thread timeout to set (auto
 * and forced modes, more than one thread, none set by the user; never
 * after a re-exec). Auto mode offers only cores ranked above the running
 * one that the CPU supports. Errors (QZ_EINPUT): a
 * QZ_BLAS_CORETYPE that is neither auto, keep nor a core name qz knows;
 * a forced core with an OpenBLAS built without DYNAMIC_ARCH. */
int qz_blas_decide(const char *running, uint32_t cpu, const qz_blas_env *env, qz_blas_choice *out, qz_error *err);

/* The OpenBLAS core names qz ranks, spelled as openblas_get_corename()
 * does; NULL when name (any case) is not one of them. */
const char *qz_blas_core_canonical(const char *name);

/* Start-up selection, once per process before any other BLAS work. May
 * execv() and not return. Returns 0 to go on, 1 when this process was a
 * probe child (it has written its one-line answer on stdout, the pipe
 * to its parent: the only output libquant makes, in a process that exists
 * for it; the caller must _exit(0) at once), or a negative status (forced core unusable, bad
 * QZ_BLAS_CORETYPE: QZ_EINPUT). */
int qz_blas_core_start(qz_error *err);

/* The best core this OpenBLAS has for this CPU, whatever the environment
 * says (the running core when no better one loads and passes). Probes in
 * child processes as qz_blas_core_start does. */
void qz_blas_core_best(char *name, size_t cap);

/* sgemm (NT and NN, beta != 0) and ssyrk on odd shapes against a float64
 * scalar reference; 1 when every element is within 4*K*eps*sum|a*b|.
 * *worst: the largest error as a fraction of its bound. */
int qz_blas_selfcheck(double *worst);

/* Runs this executable (/proc/self/exe) with the environment plus env_add
 * ("NAME=value", overriding) and stdin/stderr on /dev/null; its stdout
 * (NUL-terminated, cut at cap-1) into out. 0 when it exited 0, else
 * QZ_EINTERNAL naming its status. */
int qz_blas_run_self(const char *const *env_add, int n_add, char *out, size_t cap, qz_error *err);

/* {"library","version","config","core","detected","threads",
 *  "thread_timeout" (OPENBLAS_THREAD_TIMEOUT, or "default"),"cpu",
 *  "selection","action","reason"} of this process; caller frees. */
cJSON *qz_blas_core_json(void);

#endif
