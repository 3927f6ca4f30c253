/* test_export_gguf.c - the GGUF output's type plan (libquant/export_gguf.c):
 * llama-quantize's Q4_K_M rules worked out by hand for a 30-layer
 * SmolLM2-shaped config (use_more_bits layers 0-2, 5, 8, ..., 23, 26-29),
 * the block-size fallbacks, map precedence and refusals. */
#include "tests/qz_test.h"

#include "export_gguf.h"
#include "gguf_quants.h"

static qz_model_config smollm(void)
{
    qz_model_config c = {0};
    c.arch = QZ_ARCH_LLAMA;
    c.hidden = 576, c.intermediate = 1536, c.n_layers = 30, c.n_heads = 9, c.n_kv_heads = 3, c.head_dim = 64, c.vocab = 49152;
    c.tie_embeddings = 1;
    return c;
}

static int lin(const qz_gguf_plan *p, int layer, qz_linear_id id)
{
    return p->lin[layer * QZ_LIN_COUNT + id];
}

static void test_q4_k_m_smollm(void)
{
    qz_model_config c = smollm();
    qz_gguf_plan p;
    qz_error err;
    if (qz_gguf_plan_init(&p, &c, "Q4_K_M", NULL, &err)) {
        CHECK(0, "%s", err.msg);
        return;
    }
    static const int more[30] = {1, 1, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 1, 1, 1};
    CHECK(p.file_type == 15, "file_type %d", p.file_type);
    for (int l = 0; l < 30; l++) {
        /* in_features 576: Q4_K -> Q5_0, Q6_K -> Q8_0; ffn_down (1536) keeps K-quants */
        CHECK(lin(&p, l, QZ_LIN_Q) == QZ_GGML_Q5_0 && lin(&p, l, QZ_LIN_GATE) == QZ_GGML_Q5_0, "layer %d q/gate", l);
        CHECK(lin(&p, l, QZ_LIN_V) == (more[l] ? QZ_GGML_Q8_0 : QZ_GGML_Q5_0), "layer %d v = %s", l, qz_ggml_type_name(lin(&p, l, QZ_LIN_V)));
        CHECK(lin(&p, l, QZ_LIN_DOWN) == (more[l] ? QZ_GGML_Q6_K : QZ_GGML_Q4_K), "layer %d down = %s", l,
              qz_ggml_type_name(lin(&p, l, QZ_LIN_DOWN)));
        CHECK(p.lin_wanted[l * QZ_LIN_COUNT + QZ_LIN_Q] == QZ_GGML_Q4_K, "layer %d wanted", l);
    }
    /* tied: token_embd takes output's Q6_K, which 576 cannot hold -> Q8_0 */
    CHECK(qz_gguf_plan_type(&p, "token_embd.weight", 2, 576, NULL) == QZ_GGML_Q8_0, "token_embd");
    CHECK(qz_gguf_plan_type(&p, "blk.3.attn_norm.weight", 1, 576, NULL) == QZ_GGML_F32, "norm");
    qz_gguf_plan_free(&p);
}

static void test_map_and_defaults(void)
{
    qz_model_config c = smollm();
    c.tie_embeddings = 0;
    qz_gguf_plan p;
    qz_error err;
    if (qz_gguf_plan_init(&p, &c, "q4_0", "blk\\.1\\.attn_v=Q8_0,attn_v=F16,^output=Q6_K", &err)) {
        CHECK(0, "%s", err.msg);
        return;
    }
    CHECK(p.file_type == 2, "file_type %d", p.file_type);
    CHECK(lin(&p, 1, QZ_LIN_V) == QZ_GGML_Q8_0 && lin(&p, 2, QZ_LIN_V) == QZ_GGML_F16 && lin(&p, 2, QZ_LIN_K) == QZ_GGML_Q4_0,
          "first rule wins: %s %s %s", qz_ggml_type_name(lin(&p, 1, QZ_LIN_V)), qz_ggml_type_name(lin(&p, 2, QZ_LIN_V)),
          qz_ggml_type_name(lin(&p, 2, QZ_LIN_K)));
    int wanted;
    CHECK(qz_gguf_plan_type(&p, "output.weight", 2, 576, &wanted) == QZ_GGML_Q8_0 && wanted == QZ_GGML_Q6_K, "output fallback");
    CHECK(qz_gguf_plan_type(&p, "token_embd.weight", 2, 576, NULL) == QZ_GGML_F16, "embeddings default F16");
    CHECK(qz_gguf_plan_type(&p, "blk.0.ffn_up.weight", 2, 172, NULL) == QZ_GGML_F16, "172 columns -> F16");
    qz_gguf_plan_free(&p);
}

static void test_refusals(void)
{
    qz_model_config c = smollm();
    qz_gguf_plan p;
    qz_error err;
    CHECK(qz_gguf_plan_init(&p, &c, "Q3_K", NULL, &err) == QZ_EINPUT && strstr(err.msg, "'Q3_K'"), "Q3_K: %s", err.msg);
    CHECK(qz_gguf_plan_init(&p, &c, "Q4_0", "x=Q3_K", &err) == QZ_EINPUT && strstr(err.msg, "Q3_K"), "map Q3_K: %s", err.msg);
    CHECK(qz_gguf_plan_init(&p, &c, "Q4_0", "[x=Q8_0", &err) == QZ_EINPUT && strstr(err.msg, "regex '[x'"), "bad regex: %s", err.msg);
    CHECK(qz_gguf_plan_init(&p, &c, "Q4_0", "=Q8_0", &err) == QZ_EINPUT, "empty regex");
    c.qkv_bias = 1;
    CHECK(qz_gguf_plan_init(&p, &c, "Q4_0", NULL, &err) == QZ_EINPUT && strstr(err.msg, "without biases"), "bias: %s", err.msg);
}

int main(void)
{
    QZ_RUN(test_q4_k_m_smollm);
    QZ_RUN(test_map_and_defaults);
    QZ_RUN(test_refusals);
    QZ_TEST_EXIT();
}
