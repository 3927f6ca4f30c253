/* gate_load.c - fuzz target: a gate file (qz-eval --gate FILE, README
 * "Quality gates") through qz_gate_load, for the global thresholds and for
 * a model named in its "models" object, then evaluated on a fixed result. */
#include "fuzz.h"
#include "gate.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[512];
    if (qz_fuzz_file("gate.json", data, size, path, sizeof path)) return 0;
    static const char *models[] = {"unnamed", "rtn8", "w4"};
    for (int i = 0; i < 3; i++) {
        qz_gate g;
        memset(&g, 0, sizeof g);
        qz_error err = {0};
        if (qz_gate_load(&g, path, models[i], &err) != QZ_OK) continue;
        qz_cmp_result r;
        memset(&r, 0, sizeof r);
        r.ppl_ratio = 1.01, r.kld_mean = 0.01, r.top1 = 0.9;
        qz_gate_check checks[QZ_GATE_COUNT];
        int passed;
        (void)qz_gate_eval(&g, &r, checks, &passed);
    }
    return 0;
}
