#!/usr/bin/env bash
# Makes the seed corpora of tests/fuzz/corpus/<target>/ (run once; the output
# is checked in). Seeds come from the test fixtures and from artifacts that
# the qz tools write for a tiny random model (hidden 16, 1 layer, vocab 512,
# the stories260K tokenizer) made here with numpy: every packed layout qz
# writes, a top-k cache, gate files, calibration text and JSON Lines. Each
# seed is a few KB (the tiny model's embeddings dominate).
# usage: BUILD=build SHARED=/work/shared scripts/gen_fuzz_corpus.sh
set -euo pipefail
BUILD=${BUILD:-build}
SHARED=${SHARED:-../shared}
PY=${PY:-/opt/qzpy/bin/python}
BIN=$BUILD/bin
C=tests/fuzz/corpus
W=$(mktemp -d /tmp/qz-corpus.XXXXXX)
trap 'rm -rf "$W"' EXIT
for t in safetensors_open config_parse tokenizer_json tokenizer_encode checkpoint_load topk_read gate_load calib_read gguf_open; do
  rm -rf "${C:?}/$t"
  mkdir -p "$C/$t"
done

# -- the tiny model (F16, tied embeddings)
mkdir "$W/tiny"
"$PY" - "$W/tiny" <<'EOF'
import json, struct, sys
import numpy as np
d = sys.argv[1]
H, I, L, NH, KV, V = 16, 32, 1, 2, 1, 512
cfg = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": H, "intermediate_size": I,
       "num_hidden_layers": L, "num_attention_heads": NH, "num_key_value_heads": KV, "vocab_size": V,
       "max_position_embeddings": 128, "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "hidden_act": "silu",
       "tie_word_embeddings": True, "bos_token_id": 1, "eos_token_id": 2, "torch_dtype": "float16"}
json.dump(cfg, open(f"{d}/config.json", "w"), indent=1)
rng = np.random.default_rng(0)
hd = H // NH
shapes = {"model.embed_tokens.weight": (V, H), "model.norm.weight": (H,)}
for l in range(L):
    p = f"model.layers.{l}."
    shapes.update({p + "input_layernorm.weight": (H,), p + "post_attention_layernorm.weight": (H,),
                   p + "self_attn.q_proj.weight": (NH * hd, H), p + "self_attn.k_proj.weight": (KV * hd, H),
                   p + "self_attn.v_proj.weight": (KV * hd, H), p + "self_attn.o_proj.weight": (H, NH * hd),
                   p + "mlp.gate_proj.weight": (I, H), p + "mlp.up_proj.weight": (I, H), p + "mlp.down_proj.weight": (H, I)})
header, blobs, off = {}, [], 0
for name, shape in sorted(shapes.items()):
    a = (1 + 0.05 * rng.standard_normal(shape)) if name.endswith("norm.weight") else rng.standard_normal(shape) / np.sqrt(shape[-1])
    b = a.astype("<f2").tobytes()
    header[name] = {"dtype": "F16", "shape": list(shape), "data_offsets": [off, off + len(b)]}
    blobs.append(b)
    off += len(b)
h = json.dumps(header, separators=(",", ":")).encode()
h += b" " * (-len(h) % 8)
with open(f"{d}/model.safetensors", "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
EOF
cp "$SHARED/models/stories260K/tokenizer.json" "$SHARED/models/stories260K/tokenizer_config.json" "$W/tiny/"
head -c 30000 "$SHARED/data/tinystories-valid.txt" >"$W/cal.txt"
CAL=(--calib "$W/cal.txt" --nsamples 4 --seqlen 32 --quiet)
"$BIN"/qz-gptq "$W/tiny" "$W/rtn4" --method rtn --bits 4 --group-size 16 --quiet
"$BIN"/qz-gptq "$W/tiny" "$W/gptq3" "${CAL[@]}" --bits 3 --group-size 16 --act-order --asym
"$BIN"/qz-gptq "$W/tiny" "$W/rtn8" --method rtn --bits 8 --group-size -1 --quiet
"$BIN"/qz-awq "$W/tiny" "$W/awq" "${CAL[@]}" --group-size 16
"$BIN"/qz-smooth "$W/tiny" "$W/w8a8" "${CAL[@]}" --w8a8
"$BIN"/qz-prune "$W/tiny" "$W/s24" --method magnitude --pattern 2:4 --format sparse-24-bitmask --quiet
ARTS="tiny rtn4 gptq3 rtn8 awq w8a8 s24"

for a in gptq3 w8a8 s24; do cp "$W/$a/model.safetensors" "$C/safetensors_open/$a"; done
for a in $ARTS; do
  cp "$W/$a/config.json" "$C/config_parse/$a"
  { cat "$W/$a/config.json"; printf '\0'; cat "$W/$a/model.safetensors"; } >"$C/checkpoint_load/$a"
done
cat "$SHARED/models/stories260K/config.json" >"$C/config_parse/stories260K"
sed 's/"rope_theta": 10000.0,/"rope_theta": 500000.0, "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192},/' \
  "$SHARED/models/stories260K/config.json" >"$C/config_parse/llama3_rope"
sed 's/"model_type": "llama"/"model_type": "mistral", "sliding_window": 4096/' "$SHARED/models/stories260K/config.json" >"$C/config_parse/mistral"
sed 's/"model_type": "llama"/"model_type": "qwen2", "use_sliding_window": false/' "$SHARED/models/stories260K/config.json" >"$C/config_parse/qwen2"
printf '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"e":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},"__metadata__":{"format":"pt"}}' >"$W/h"
{ printf "$(printf '\\x%02x' $(( $(wc -c <"$W/h") )) )\0\0\0\0\0\0\0"; cat "$W/h"; printf '\1\2\3\4\5\6\7\10'; } >"$C/safetensors_open/zero_size"

# -- GGUF: stories260K.gguf's header, a tiny llama with every 32-wide block
# type, the K-quant types, and the tokenizer fixtures' bad files
"$PY" - "$C/gguf_open" "$SHARED/models/stories260K-llama2c/stories260K.gguf" <<'EOF'
import struct, sys
import numpy as np
import gguf
from gguf import GGMLQuantizationType as T

out, stories = sys.argv[1], sys.argv[2]

# 1. stories260K.gguf's header: every key/value pair (the llama2.c tokenizer
#    included), the tensor count patched to 0, padded to the alignment.
b = open(stories, "rb").read()
SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
def skip_value(p, t):
    if t == 8:
        n, = struct.unpack_from("<Q", b, p)
        return p + 8 + n
    if t == 9:
        et, n = struct.unpack_from("<IQ", b, p)
        p += 12
        for _ in range(n):
            p = skip_value(p, et)
        return p
    return p + SIZES[t]
assert b[:4] == b"GGUF"
n_kv, = struct.unpack_from("<Q", b, 16)
p = 24
for _ in range(n_kv):
    klen, = struct.unpack_from("<Q", b, p)
    p += 8 + klen
    t, = struct.unpack_from("<I", b, p)
    p = skip_value(p + 4, t)
head = b[:8] + struct.pack("<Q", 0) + b[16:p]
head += b"\0" * (-len(head) % 32)
open(f"{out}/stories260K_header", "wb").write(head)

rng = np.random.default_rng(0)
def q(w, t):
    return gguf.quants.quantize(w.astype(np.float32), t) if t not in (T.F32, T.F16) else w.astype(np.float32 if t == T.F32 else np.float16)

# 2. a tiny llama (hidden 32, 1 layer, vocab 32): a model qz opens, one
#    tensor per block type that a 32-wide row allows.
w = gguf.GGUFWriter(f"{out}/tiny_llama", "llama")
H, I, NH, KV, V = 32, 64, 2, 1, 32
w.add_context_length(64); w.add_embedding_length(H); w.add_feed_forward_length(I); w.add_block_count(1)
w.add_head_count(NH); w.add_head_count_kv(KV); w.add_layer_norm_rms_eps(1e-5); w.add_rope_freq_base(10000.0)
w.add_vocab_size(V); w.add_bos_token_id(1); w.add_eos_token_id(2)
hd = H // NH
tensors = [("token_embd.weight", (V, H), T.Q8_0), ("output_norm.weight", (H,), T.F32), ("output.weight", (V, H), T.Q4_0),
           ("blk.0.attn_norm.weight", (H,), T.F32), ("blk.0.ffn_norm.weight", (H,), T.F32),
           ("blk.0.attn_q.weight", (NH * hd, H), T.Q4_1), ("blk.0.attn_k.weight", (KV * hd, H), T.Q5_0),
           ("blk.0.attn_v.weight", (KV * hd, H), T.Q5_1), ("blk.0.attn_output.weight", (H, NH * hd), T.F16),
           ("blk.0.ffn_gate.weight", (I, H), T.Q8_0), ("blk.0.ffn_up.weight", (I, H), T.F16), ("blk.0.ffn_down.weight", (H, I), T.Q4_0)]
for name, shape, t in tensors:
    a = 1 + 0.05 * rng.standard_normal(shape) if name.endswith("norm.weight") else rng.standard_normal(shape) / np.sqrt(shape[-1])
    d = q(a, t)
    w.add_tensor(name, d, raw_dtype=t if t not in (T.F32, T.F16) else None)
w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()

# 3. the K-quant and BF16 block types, two 256-wide rows each (no
#    architecture), as random block bytes (gguf-py cannot quantize to K-quants).
w = gguf.GGUFWriter(f"{out}/kquants", "none")
for t in (T.Q2_K, T.Q3_K, T.Q4_K, T.Q5_K, T.Q6_K, T.BF16):
    shape = gguf.quants.quant_shape_to_byte_shape((2, 256), t)
    w.add_tensor(f"t.{t.name}", rng.integers(0, 256, size=shape, dtype=np.uint8), raw_dtype=t)
w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()
EOF
cp tests/fixtures/tokenizer/gguf/bad_model.gguf tests/fixtures/tokenizer/gguf/bad_pre.gguf "$C/gguf_open/"

# -- tokenizers: each fixture's tokenizer.json, NUL, a text with non-ASCII
for d in tests/fixtures/tokenizer/*/; do
  v=$(basename "$d")
  [ -f "$d/tokenizer.json" ] || continue
  { cat "$d/tokenizer.json"; printf '\0Once upon a time, caf\xc3\xa9 2024 \xe2\x96\x81 \xf0\x9f\x98\x80 end.'; } >"$C/tokenizer_json/$v"
done
i=0
for text in 'Once upon a time, there was a little girl named Lily.' $'caf\xc3\xa9 na\xc3\xafve \xe2\x80\x94 \xe6\x97\xa5\xe6\x9c\xac 12345 \xf0\x9f\x98\x80' \
  $'  two  spaces\tand\ttabs\nnew line' $'A\xcc\x8a NFC e\xcc\x81 <0x41> <s></s>' "don't you'll I'm 3.14159"; do
  for v in 0 4 5 6 8; do printf "\\x$(printf %02x $v)%s" "$text" >"$C/tokenizer_encode/t${i}_v$v"; done
  i=$((i + 1))
done

# -- a top-k cache (tiny model against the RTN one), gate files, calibration files
head -c 3000 "$SHARED/data/tinystories-valid.txt" >"$W/ev.txt"
"$BIN"/qz-eval "$W/rtn4" --base "$W/tiny" --text "$W/ev.txt" --seqlen 16 --max-windows 2 --top-k 4 --top-k-cache "$C/topk_read/k4" >/dev/null
"$BIN"/qz-eval "$W/rtn8" --base "$W/tiny" --text "$W/ev.txt" --seqlen 8 --max-windows 1 --top-k 1 --top-k-cache "$C/topk_read/k1" >/dev/null
cp tests/fixtures/gate.json "$C/gate_load/fixture"
cp scripts/ci-gate.json "$C/gate_load/ci"
printf '{"max_ppl_ratio": 1.1, "max_kld": 0.05, "min_top1": 0.8, "max_ppl_delta": 2, "gate_ci": true, "models": {"w4": {"max_kld": 0.1}}}' >"$C/gate_load/all"
{ printf '\0'; head -c 2000 "$SHARED/data/tinystories-valid.txt"; } >"$C/calib_read/text"
{ printf '\1'; printf '{"text": "Once upon a time."}\n{"text": "caf\\u00e9 \\ud83d\\ude00"}\n\n{"text": "%s"}\n' "$(head -c 500 "$SHARED/data/wikitext2-test.txt" | tr -d '"\\\n')"; } >"$C/calib_read/jsonl"
{ printf '\x81'; head -c 1500 "$SHARED/data/wikitext2-test.txt"; } >"$C/calib_read/two_files"
du -sh "$C"/* | sed 's/^/gen_fuzz_corpus: /'
