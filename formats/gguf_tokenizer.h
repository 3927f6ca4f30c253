/* gguf_tokenizer.h - a GGUF file's tokenizer metadata as the Hugging Face
 * tokenizer.json and tokenizer_config.json that describe the same tokenizer.
 *
 * Input: the GGUF key/value pairs as one cJSON object (formats/gguf.h
 * qz_gguf_metadata_json: numbers, bools, strings, arrays as cJSON arrays).
 * The keys read:
 *   tokenizer.ggml.model         "gpt2" (byte-level BPE) or "llama" (SentencePiece BPE)
 *   tokenizer.ggml.pre           the pre-tokenizer name (gpt2 only; see below)
 *   tokenizer.ggml.tokens        token strings, by id
 *   tokenizer.ggml.token_type    1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte
 *   tokenizer.ggml.merges        "a b" strings in rank order (gpt2)
 *   tokenizer.ggml.scores        one float per token (llama: the merges are ranked by them)
 *   tokenizer.ggml.{bos,eos,unknown,padding}_token_id
 *   tokenizer.ggml.add_bos_token / add_eos_token / add_space_prefix
 *   tokenizer.chat_template, <general.architecture>.context_length
 *
 * Output: tokenizer.json as `tokenizers` 0.2x serializes it (BPE model,
 * added_tokens for the unknown / control / user-defined tokens, normalizer,
 * pre_tokenizer, post_processor, decoder) and a tokenizer_config.json with
 * bos_token, eos_token, unk_token, pad_token, add_bos_token, add_eos_token,
 * chat_template, model_max_length and tokenizer_class PreTrainedTokenizerFast.
 * What each pre-tokenizer name becomes, and the defaults when a key is
 * missing, are in docs/formats-gguf.md.
 */
#ifndef QZ_GGUF_TOKENIZER_H
#define QZ_GGUF_TOKENIZER_H

#include <cJSON.h>

#include "gguf.h"
#include "gguf_write.h"
#include "qz_common.h"

/* Builds *tokenizer_json and *tokenizer_config (both owned by the caller:
 * cJSON_Delete) from the metadata object meta; where names the file in
 * messages. Errors: QZ_EINPUT when a key is missing, has the wrong type or
 * length, or names a model / pre-tokenizer qz does not support (the message
 * lists the supported ones); QZ_EINTERNAL when memory runs out. On error both
 * outputs are NULL. */
int qz_gguf_tokenizer_json(const cJSON *meta, const char *where, cJSON **tokenizer_json, cJSON **tokenizer_config,
                           qz_error *err);

/* The supported tokenizer.ggml.pre names for tokenizer.ggml.model "gpt2",
 * comma-separated (for messages and --help). */
const char *qz_gguf_tokenizer_pre_names(void);

/* The same for an open GGUF file (its metadata, qz_gguf_metadata_json). */
int qz_gguf_tokenizer_files(const qz_gguf *g, cJSON **tokenizer_json, cJSON **tokenizer_config, qz_error *err);

/* The inverse, for GGUF output: tokenizer.ggml.* keys (model gpt2 with the
 * pre name whose pre-tokenizer and normalizer equal tokenizer_json's, or
 * llama for a byte_fallback BPE; tokens, token_type, merges / scores,
 * add_space_prefix) and, from tokenizer_config (may be NULL), the bos / eos
 * / unknown / padding ids, add_bos / add_eos and tokenizer.chat_template,
 * written into w. llama scores rank the pieces by the first merge making
 * them (-(rank+1)), which qz_gguf_tokenizer_json turns back into the same
 * merges. QZ_EINPUT for a model that is not BPE or a pre-tokenizer with no
 * llama.cpp name (where names the file). */
int qz_gguf_tokenizer_to_kv(qz_gguf_writer *w, const cJSON *tokenizer_json, const cJSON *tokenizer_config, const char *where,
                            qz_error *err);

#endif
