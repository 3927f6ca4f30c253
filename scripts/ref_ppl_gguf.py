#!/usr/bin/env python3
"""Independent float64 reference for qz-eval's perplexity on a LLaMA GGUF
(run once to make tests/fixtures/ppl_reference_gguf.txt; tests never run
Python).

Reads the GGUF with the `gguf` package, dequantizes every tensor with
gguf.quants, un-permutes q/k from llama.cpp's rotary row order back to
rotate-half (the inverse of convert_hf_to_gguf's
reshape(n_head, 2, rows/n_head/2, cols).swapaxes(1, 2)), tokenizes with the
Hugging Face `tokenizers` tokenizer built from the GGUF metadata in
gen_gguf_tokenizer_fixture.py (as SmolLM2's tokenizer.json is made), and
runs ref_ppl.py's float64 numpy forward with its protocol: the text
tokenized once (special tokens as the tokenizer adds them: none for
SmolLM2, whose GGUF says add_bos_token false), non-overlapping windows,
every token after a window's first scored.

usage: ref_ppl_gguf.py MODEL.gguf TEXT SEQLEN MAX_WINDOWS
  TEXT is a file; for the held-out halves make it with scripts/split.sh.
"""
import os
import sys

import numpy as np
from gguf import GGUFReader
from gguf.quants import dequantize

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_gguf_tokenizer_fixture import load_gguf, smollm2_tokenizer  # noqa: E402
from ref_ppl import window_nll  # noqa: E402

NAMES = {"attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm", "attn_q": "self_attn.q_proj",
         "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj", "attn_output": "self_attn.o_proj",
         "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj"}
TOP = {"token_embd.weight": "model.embed_tokens.weight", "output_norm.weight": "model.norm.weight",
       "output.weight": "lm_head.weight"}


def hf_name(name):
    if name in TOP:
        return TOP[name]
    blk, layer, rest = name.split(".", 2)
    base, suffix = rest.rsplit(".", 1)
    assert blk == "blk", name
    return f"model.layers.{layer}.{NAMES[base]}.{suffix}"


def unpermute(w, n_head):
    rows = w.shape[0]
    return w.reshape(n_head, rows // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def load_weights(path, meta):
    nh, nkv = meta["llama.attention.head_count"], meta["llama.attention.head_count_kv"]
    W = {}
    for t in GGUFReader(path).tensors:
        shape = tuple(int(x) for x in reversed(t.shape.tolist()))  # GGUF ne is innermost-first
        w = dequantize(t.data, t.tensor_type).astype(np.float64).reshape(shape)
        name = hf_name(t.name)
        if name.endswith("self_attn.q_proj.weight"):
            w = unpermute(w, nh)
        elif name.endswith("self_attn.k_proj.weight"):
            w = unpermute(w, nkv)
        W[name] = w
    return W


def main():
    path, text, seqlen, maxw = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    meta = load_gguf(path)
    cfg = {"hidden_size": meta["llama.embedding_length"], "num_attention_heads": meta["llama.attention.head_count"],
           "num_key_value_heads": meta["llama.attention.head_count_kv"], "num_hidden_layers": meta["llama.block_count"],
           "rms_norm_eps": meta["llama.attention.layer_norm_rms_epsilon"], "rope_theta": meta["llama.rope.freq_base"]}
    W = load_weights(path, meta)
    ids = smollm2_tokenizer(meta).encode(open(text, encoding="utf-8").read()).ids
    nwin, scored, nll = window_nll(W, cfg, ids, seqlen, maxw)
    print(f"tokens {len(ids)} windows {nwin} scored {scored} mean_nll {nll / scored:.9f} ppl {np.exp(nll / scored):.9f}")


if __name__ == "__main__":
    main()
