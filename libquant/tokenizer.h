/* tokenizer.h - Hugging Face tokenizer.json (BPE model): load, encode, decode.
 *
 * Reads the tokenizer.json that `tokenizers` (the Rust library behind the HF
 * "fast" tokenizers) writes, and reproduces its `encode(text).ids` and
 * `decode(ids)` exactly for the two BPE families in use:
 *
 *   SentencePiece-style (LLaMA-2, Mistral, TinyLlama): normalizer Prepend("▁")
 *     + Replace(" " -> "▁") or the Metaspace pre-tokenizer; byte_fallback
 *     ("<0xAB>" pieces), unk_token, fuse_unk; decoders Replace / ByteFallback /
 *     Fuse / Strip / Metaspace.
 *   Byte-level (GPT-2, LLaMA-3, Qwen2, SmolLM): ByteLevel pre-tokenizer,
 *     usually after a Split whose Regex runs through PCRE2; ignore_merges;
 *     NFC normalizer; ByteLevel decoder.
 *
 * Added tokens (special or not) are matched in the raw text first, longest
 * match wins, honouring lstrip / rstrip / single_word / normalized; the text
 * between them is encoded normally. Token ids follow `tokenizers` exactly,
 * including its rule that an added token absent from the model vocab gets the
 * next free id after the model vocab, whatever id tokenizer.json lists.
 *
 * Other model types (WordPiece, Unigram, WordLevel) and components not listed
 * above are refused at load time with QZ_EINPUT and a message naming the file,
 * what it found and what is supported.
 *
 * A loaded tokenizer is immutable: encode/decode may run concurrently on one
 * tokenizer from several threads (each call keeps its own scratch space).
 */
#ifndef QZ_TOKENIZER_H
#define QZ_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include <cJSON.h>

#include "qz_common.h"

typedef struct qz_tokenizer qz_tokenizer;

/* Loads tokenizer_json_path and, when tokenizer_config_path is not NULL, the
 * tokenizer_config.json beside it (bos_token, eos_token, add_bos_token,
 * add_eos_token). On success *out owns the tokenizer (free with
 * qz_tokenizer_free). Errors: QZ_EINPUT for an unreadable, malformed or
 * unsupported file; QZ_EINTERNAL when memory runs out. */
int qz_tokenizer_load(qz_tokenizer **out, const char *tokenizer_json_path,
                      const char *tokenizer_config_path, qz_error *err);

/* The same from parsed JSON: tokenizer_json (a tokenizer.json object) and,
 * when not NULL, tokenizer_config (a tokenizer_config.json object), e.g. as
 * formats/gguf_tokenizer.h builds them from a GGUF. Neither is consumed;
 * where names their origin in messages. Errors as qz_tokenizer_load. */
int qz_tokenizer_load_json(qz_tokenizer **out, const cJSON *tokenizer_json, const cJSON *tokenizer_config,
                           const char *where, qz_error *err);

/* Frees everything; NULL is a no-op. */
void qz_tokenizer_free(qz_tokenizer *tok);

/* Largest id + 1 over the model vocab and the added tokens (what
 * `tokenizers`' get_vocab_size(with_added_tokens=True) reports when ids are
 * dense). */
int32_t qz_tokenizer_vocab_size(const qz_tokenizer *tok);

/* The BOS id: the first special token the post-processor puts before the
 * text, else tokenizer_config.json's bos_token; -1 when neither exists. */
int32_t qz_tokenizer_bos(const qz_tokenizer *tok);

/* The EOS id: the last special token the post-processor puts after the text,
 * else tokenizer_config.json's eos_token; -1 when neither exists. */
int32_t qz_tokenizer_eos(const qz_tokenizer *tok);

/* Encodes len bytes of UTF-8 text (need not be NUL-terminated). With
 * add_special, the post-processor's special tokens are added around the text,
 * as `tokenizer.encode(text).ids` does with add_special_tokens=True; an
 * explicit add_bos_token / add_eos_token in tokenizer_config.json adds or
 * removes the BOS / EOS the way transformers does. Empty text yields just
 * those special tokens (possibly none). On success *ids is malloc'd (the
 * caller frees it) and holds *n_ids ids; tokenizer.json's truncation and
 * padding settings are ignored (every id is returned). Errors: QZ_EINPUT when the text is
 * not valid UTF-8 (the message names the byte offset); QZ_EINTERNAL on
 * memory exhaustion or a regex engine failure. */
int qz_tokenizer_encode(const qz_tokenizer *tok, const char *text, size_t len, int add_special,
                        int32_t **ids, int64_t *n_ids, qz_error *err);

/* Decodes n ids to UTF-8 text through the tokenizer.json decoder. With
 * skip_special, special added tokens are dropped. Ids with no token are
 * skipped, as `tokenizers` does. Bytes that do not form valid UTF-8 become
 * U+FFFD. On success *text is malloc'd and NUL-terminated (the caller frees
 * it) and *len is its length without the NUL. Errors: QZ_EINTERNAL on memory
 * exhaustion. */
int qz_tokenizer_decode(const qz_tokenizer *tok, const int32_t *ids, int64_t n, int skip_special,
                        char **text, size_t *len, qz_error *err);

/* A 64-bit FNV-1a hash of the vocab (id -> token), the merges in rank order
 * and the added tokens with their flags: equal fingerprints mean two models
 * tokenize identically (normalizer and pre-tokenizer aside). */
uint64_t qz_tokenizer_fingerprint(const qz_tokenizer *tok);

#endif
