#!/usr/bin/env python3
"""Expected token ids for the tokenizers qz builds from GGUF metadata
(formats/gguf_tokenizer.c), from an implementation independent of qz's:
Hugging Face's `tokenizers` (Rust) reading the GGUF with the `gguf` package.

Run once from the repository root; the output is checked in:
    /opt/qzpy/bin/python scripts/gen_gguf_tokenizer_fixture.py   ($SHARED or ../shared)

  smollm2.txt     models/smollm2-135m-instruct-q4_1/*.gguf: a byte-level BPE
                  tokenizer built here from the GGUF's tokens, merges and token
                  types the way SmolLM2-135M-Instruct's own tokenizer.json is
                  made: no normalizer, pre-tokenizer Digits(individual_digits)
                  + ByteLevel(add_prefix_space=False, use_regex=True), the 17
                  control tokens as special added tokens, ByteLevel
                  post-processor (no BOS: the GGUF says add_bos_token false).
  stories260K.txt models/stories260K-llama2c/stories260K.gguf (SentencePiece
                  type), whose ids must be those of the shared Hugging Face
                  directory's tokenizer.json, models/stories260K/tokenizer.json
                  (BOS added, as its post-processor does).

Each file has one case per line, tab-separated:
  # ...                       a comment (what the next case is)
  text HEX IDS                the text (hex of its UTF-8 bytes) and its ids
  slice PATH OFFSET NBYTES IDS   bytes [OFFSET, OFFSET+NBYTES) of $SHARED/PATH
  whole PATH N MD5            all of $SHARED/PATH: N ids; MD5 of the ids
                              written one per line (as `qz-eval --tokenize` prints)
IDS are space-separated; every case is encoded with the special tokens the
tokenizer adds (tokenizer.encode(text).ids).

  bad_model.gguf, bad_pre.gguf   tensor-less GGUF files (written with the
                  `gguf` package) whose tokenizer qz must refuse:
                  tokenizer.ggml.model "bert", tokenizer.ggml.pre "deepseek-llm".
"""
import glob
import hashlib
import os

import gguf
from tokenizers import AddedToken, Tokenizer, decoders, models, processors
from tokenizers import pre_tokenizers as pre

SHARED = os.environ.get("SHARED", "../shared")
OUT = "tests/fixtures/tokenizer/gguf"
TEXTS = ["data/tinystories-valid.txt", "data/wikitext2-test.txt"]
CONTROL = 3

HARD = [
    ("cjk", "我们今天去公园散步，天气很好。日本語のテキスト、カタカナ。한국어 텍스트입니다."),
    ("emoji", "emoji 😀😀 👍🏽 🎉 🇺🇸🇯🇵 ❤️ ✨"),
    ("emoji_zwj", "family 👨‍👩‍👧‍👦 and 🏳️‍🌈 and 👩🏾‍💻 done"),
    ("combining", "q\u0307\u0323 a\u0308\u0301 Z\u0335\u0321\u0317a\u0334lgo\u0336"),
    ("nfc_vs_nfd", "caf\u00e9 vs cafe\u0301; \u00c5 A\u030a \u212b; \uac01 \u1100\u1161\u11a8"),
    ("arabic", "مرحبا بالعالم، هذه جملة عربية ١٢٣٤."),
    ("hindi_thai", "नमस्ते दुनिया। สวัสดีชาวโลก"),
    ("valid_odd_utf8", "\ufffd \uffff \ue000 \U0010ffff \U0001d518\U0001d52b \ufeffbom \u200bzw\u200d \u2028ls"),
    ("digits", "1234567890123456789012345 3.14159 ٣٤٥ ²½ 1,000,000"),
    ("whitespace_runs", "a     b\u00a0\u00a0c  \u3000 d      "),
    ("tabs_crlf", "\t\tindent\tx\r\nline two\r\n\r\n\tend\r"),
    ("newlines", "\n\n\nthree\n \n  \n"),
    ("specials", "<|im_start|>user\nHello!<|im_end|>\n<|im_start|>assistant\n"),
    ("special_mid", "x<|endoftext|>y <|im_end|><|im_end|> <repo_name>"),
    ("special_partial", "<|im_start <|im_end| <| |> im_start|>"),
    ("contractions", "don't I'm we'll they've she'd IT'S Y'ALL'RE"),
    ("punct_code", "def f(x): return {'a': [1, 2]}  # ok?!... ==> <= ~~~"),
    ("url", "https://example.com/path?q=1&r=2#frag"),
    ("single_space", " "),
    ("leading_spaces", "   leading and trailing   "),
]
STORIES_SKIP = {"specials", "special_mid", "special_partial"}  # its tokenizer.json names BOS "\n<s>\n"


def load_gguf(path):
    r = gguf.GGUFReader(path)

    def val(field, i):
        part = field.parts[i]
        if field.types[-1] == gguf.GGUFValueType.STRING:
            return bytes(part).decode("utf-8")
        return part.tolist()[0]

    out = {}
    for k, f in r.fields.items():
        if f.types and f.types[0] == gguf.GGUFValueType.ARRAY:
            out[k] = [val(f, i) for i in f.data]
        elif f.types:
            out[k] = val(f, f.data[0])
    return out


def smollm2_tokenizer(meta):
    tokens, types = meta["tokenizer.ggml.tokens"], meta["tokenizer.ggml.token_type"]
    assert meta["tokenizer.ggml.model"] == "gpt2" and meta["tokenizer.ggml.pre"] == "smollm"
    assert meta["tokenizer.ggml.add_bos_token"] is False or meta["tokenizer.ggml.add_bos_token"] == 0
    vocab = {t: i for i, t in enumerate(tokens)}
    merges = [tuple(m.split(" ")) for m in meta["tokenizer.ggml.merges"]]
    tok = Tokenizer(models.BPE(vocab, merges))
    tok.pre_tokenizer = pre.Sequence([pre.Digits(individual_digits=True),
                                      pre.ByteLevel(add_prefix_space=False, use_regex=True)])
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False)
                            for t, ty in zip(tokens, types) if ty == CONTROL])
    return tok


def hexs(s):
    return s.encode("utf-8").hex()


def ids_str(ids):
    return " ".join(map(str, ids))


def slice_at(data, off, n):
    """Bytes [off, off+n) moved back to character boundaries."""
    while off > 0 and (data[off] & 0xC0) == 0x80:
        off -= 1
    while n > 0 and off + n < len(data) and (data[off + n] & 0xC0) == 0x80:
        n -= 1
    return off, n


def write(name, tok, skip=()):
    lines = [f"# {name}: ids from Hugging Face tokenizers 0.23 (scripts/gen_gguf_tokenizer_fixture.py)"]
    for case, text in HARD:
        if case in skip:
            continue
        lines += [f"# {case}", f"text\t{hexs(text)}\t{ids_str(tok.encode(text).ids)}"]
    for path in TEXTS:
        with open(os.path.join(SHARED, path), "rb") as f:
            data = f.read()
        for off, n in ((0, 600), (len(data) // 2, 600)):
            off, n = slice_at(data, off, n)
            ids = tok.encode(data[off:off + n].decode("utf-8")).ids
            lines += [f"# {path} bytes {off}+{n}", f"slice\t{path}\t{off}\t{n}\t{ids_str(ids)}"]
        ids = tok.encode(data.decode("utf-8")).ids
        md5 = hashlib.md5("".join(f"{i}\n" for i in ids).encode()).hexdigest()
        lines += [f"# all of {path}", f"whole\t{path}\t{len(ids)}\t{md5}"]
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, name + ".txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


def write_bad(name, model, pre):
    w = gguf.GGUFWriter(os.path.join(OUT, name), "llama")
    w.add_tokenizer_model(model)
    if pre:
        w.add_tokenizer_pre(pre)
    w.add_token_list(["a", "b", "ab"])
    w.add_token_merges(["a b"])
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def main():
    smol = glob.glob(os.path.join(SHARED, "models/smollm2-135m-instruct-q4_1/*.gguf"))
    assert len(smol) == 1, smol
    write("smollm2", smollm2_tokenizer(load_gguf(smol[0])))
    stories = Tokenizer.from_file(os.path.join(SHARED, "models/stories260K/tokenizer.json"))
    write("stories260K", stories, STORIES_SKIP)
    write_bad("bad_model.gguf", "bert", None)
    write_bad("bad_pre.gguf", "gpt2", "deepseek-llm")


if __name__ == "__main__":
    main()
