/* qz_test_model.h - model-level helpers shared by unit tests. */
#ifndef QZ_TEST_MODEL_H
#define QZ_TEST_MODEL_H

#include "eval.h"

/* Max |logit_a - logit_b| over one window of T tokens; *max_logit gets max
 * |logit_a|. Returns -1 when a model cannot run the window. */
static inline double qzt_max_logit_diff(qz_model *a, qz_model *b, const int32_t *ids, int64_t T, double *max_logit)
{
    int64_t d = a->cfg.hidden, V = a->cfg.vocab;
    float *x1 = malloc(sizeof(float) * T * d), *x2 = malloc(sizeof(float) * T * d);
    float *l1 = malloc(sizeof(float) * T * V), *l2 = malloc(sizeof(float) * T * V);
    qz_ppl_opts po = {.seqlen = T};
    qz_error err = {0};
    double worst = -1;
    if (qz_eval_hidden(a, ids, 1, &po, x1, &err) == 0 && qz_eval_hidden(b, ids, 1, &po, x2, &err) == 0) {
        qz_model_head(a, x1, T, l1);
        qz_model_head(b, x2, T, l2);
        worst = 0, *max_logit = 0;
        for (int64_t i = 0; i < T * V; i++) {
            worst = fmax(worst, fabs((double)l1[i] - l2[i]));
            *max_logit = fmax(*max_logit, fabs((double)l1[i]));
        }
    }
    free(x1), free(x2), free(l1), free(l2);
    return worst;
}

#endif
