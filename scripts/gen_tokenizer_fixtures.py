#!/usr/bin/env python3
"""Golden fixtures for tests/unit/test_tokenizer.c, from Hugging Face's
`tokenizers` library (Rust; an implementation independent of qz's).

Run once from the repository root; the output is checked in:
    python3 scripts/gen_tokenizer_fixtures.py   (needs `pip install tokenizers`
    and the shared directory, $SHARED or ../shared)

It writes tests/fixtures/tokenizer/<variant>/ with tokenizer.json (and
tokenizer_config.json when the variant has one) and cases.txt. The variants:
  stories260K          the shared LLaMA-2-style tokenizer (not copied: the
                       test reads it from the shared directory)
  sp                   SentencePiece-style BPE trained here: Prepend + Replace
                       normalizer, byte_fallback, fuse_unk, added tokens
  sp_metaspace         Metaspace pre-tokenizer (prepend_scheme first, no
                       split), no byte fallback, fused unk
  sp_metaspace_split   Metaspace (never, split) and the Metaspace decoder
  sp_unk               Replace normalizer + old-form Metaspace (always,
                       split), unk not fused, Strip decoders, config
                       add_eos_token=true (transformers adds the EOS)
  bytelevel            byte-level BPE trained here, LLaMA-3 style: Split
                       regex + ByteLevel, ignore_merges, BOS template
  bytelevel_gpt2       same vocab, "a b" merges, ByteLevel with its own GPT-2
                       regex and prefix space, RobertaProcessing, lstrip/rstrip
  bytelevel_nfc        Qwen2 style: NFC normalizer, digit-by-digit regex
  bytelevel_splits     every Split behavior, invert, Digits, no post-processor
  bytelevel_digits     Digits one by one, ByteLevel prefix space, no decoder

cases.txt has one case per line, tab-separated (ids space-separated, text as
hex of its UTF-8 bytes):
  vocab_size N | bos ID | eos ID
  enc ADD_SPECIAL HEX IDS              encode(text).ids
  encfile ADD_SPECIAL PATH NBYTES IDS  the first NBYTES of $SHARED/PATH
  encsum ADD_SPECIAL PATH N CRC        all of $SHARED/PATH: N ids, CRC32 of the
                                       ids as int32 little-endian
  dec SKIP_SPECIAL IDS HEX             decode(ids)
  # ...                                a comment (the text of the next case)
"""
import json
import os
import random
import struct
import sys
import zlib

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers
from tokenizers import pre_tokenizers as pre
from tokenizers import processors, trainers

SHARED = os.environ.get("SHARED", "../shared")
OUT = "tests/fixtures/tokenizer"
TINY = "data/tinystories-valid.txt"
WIKI = "data/wikitext2-test.txt"

LLAMA3_RE = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
             r"|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_RE = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
            r"|\s*[\r\n]+|\s+(?!\S)|\s+")

NON_ASCII_LINES = [
    "Le café était très animé ce matin-là, déjà plein d'étudiants.",
    "El niño comió una manzana y el señor leyó el periódico en español.",
    "Über den Wolken muss die Freiheit wohl grenzenlos sein, schön!",
    "Съешь же ещё этих мягких французских булок, да выпей чаю.",
    "Η γρήγορη καφέ αλεπού πηδά πάνω από το τεμπέλικο σκυλί.",
    "我们今天去公园散步，天气很好。你好，世界！",
    "日本語のテキストです。東京は大きな都市です。",
    "한국어 텍스트입니다. 안녕하세요!",
    "مرحبا بالعالم، هذه جملة عربية.",
    "नमस्ते दुनिया, यह हिन्दी वाक्य है।",
    "Emoji time 😀😀 👍🏽 🎉 🇺🇸 ❤️",
    "Prices: 12.50€, 3,000¥, 1234567 units, 2² ½",
]

STRINGS = [
    "Hello world",
    "Once upon a time, there was a little girl named Lily. She loved to play outside.",
    " leading space", "trailing space ", "  two leading", "multiple   inner    spaces", "   ", " ", "",
    "a", "\n", "line one\nline two\n\nline four\n", "\t\ttabs\tand spaces \t", "\r\nwindows\r\nline",
    "café naïve résumé déjà vu", "niño señor mañana", "Ünïcödé",
    "e\u0301 vs \u00e9", "A\u030a \u00c5 \u212b", "\u1100\u1161\u11a8 \uac01", "q\u0307\u0323 \u1e9b\u0323 \u0958",
    "你好，世界！", "日本語のテキストです。", "한국어 텍스트", "Ελληνικά Русский العربية हिन्दी",
    "emoji 😀👍🏽 🎉🇺🇸", "don't I'm we'll they've she'd it's Y'ALL'RE", "numbers 1234567 3.14159 42 ²½ ٣٤",
    "<s>", "</s>", "<unk>", "text <s> inside </s> end", "<s><s></s>", "x<|endoftext|>y",
    "<|begin_of_text|>Hello<|eot_id|>", "<|endoftext|> <|endoftext|>  ", "hello <mask> world",
    "hello<mask>world", "a   <mask>   b", "foo food xfoo foo_bar (foo) foo.",
    "héllo wörld and héllo wörldx", "naïve naïveté Naïve", "ok okay ok, (ok) ok_ ok",
    "zqxj zqxjj zqxj", "a zap b zap", "zapzap", "\u00a0nbsp\u2003em\u3000ideo", "zero\u200bwidth\u200djoin",
    "tab\x0bvt\x0cff\x85nel\u180esep", "\x00nul\x01ctrl\x7fdel", "a" * 300,
    "The quick brown fox jumps over the lazy dog. " * 20,
    "\u2581already\u2581meta\u2581space", "__init__ self.x = {'a': [1, 2]}; // comment",
    "https://example.com/path?q=1&r=2#frag", "MiXeD CaSe WORDS", "   \n   \n", "end with newline\n",
    "\u2581", "\u2581\u2581a", "x\u2581 \u2581y", "x \u180e's \u2028\u180e y",
]

POOL = (list("abcdefghijklmnopqrstuvwxyzABCXYZ0123456789") + [" "] * 12 + list(".,;:!?'\"-_()[]{}<>|/\\@#$%^&*+=~`")
        + ["\n", "\t", "\r\n", "\u00a0", "\u3000"] + list("éèñüßçøåÅæœ") + ["e\u0301", "a\u0308", "\u0323"]
        + list("你好世界日本語한국어Ωπß") + ["😀", "👍🏽", "🇺🇸", "❤️"]
        + ["<s>", "</s>", "<unk>", "<|endoftext|>", "<|begin_of_text|>", "<|eot_id|>", "<mask>", "<s", "|>",
           "foo", "ok", "naïve", "héllo wörld", "zqxj", "zap", "\u2581", "'s", "'LL", "123", "4567"])


def random_strings(seed, count):
    rng = random.Random(seed)
    return ["".join(rng.choice(POOL) for _ in range(rng.randint(1, 40))) for _ in range(count)]


def shared_text(path, nbytes=None):
    with open(os.path.join(SHARED, path), "rb") as f:
        data = f.read()
    if nbytes is None:
        return data.decode("utf-8"), len(data)
    while nbytes > 0 and (data[nbytes] & 0xC0) == 0x80:  # back up to a character boundary
        nbytes -= 1
    return data[:nbytes].decode("utf-8"), nbytes


def training_text(scripts=NON_ASCII_LINES):
    tiny, _ = shared_text(TINY, 300000)
    wiki, _ = shared_text(WIKI, 200000)
    return tiny.split("\n") + wiki.split("\n") + scripts * 20


def ids_str(ids):
    return " ".join(str(i) for i in ids)


def crc_ids(ids):
    return zlib.crc32(struct.pack("<%di" % len(ids), *ids)) if ids else 0


class Cases:
    """Writes cases.txt for one variant; `tok` is the tokenizer whose outputs
    qz must reproduce (already including any tokenizer_config.json effect)."""

    def __init__(self, name, tok, bos, eos):
        self.tok, self.lines = tok, []
        os.makedirs(os.path.join(OUT, name), exist_ok=True)
        self.path = os.path.join(OUT, name, "cases.txt")
        vocab = tok.get_vocab(with_added_tokens=True)
        self.lines += ["vocab_size\t%d" % (max(vocab.values()) + 1), "bos\t%d" % bos, "eos\t%d" % eos]

    def enc(self, text, decode=True):
        self.lines.append("# " + ascii(text[:80]))
        for add in (1, 0):
            ids = self.tok.encode(text, add_special_tokens=bool(add)).ids
            self.lines.append("enc\t%d\t%s\t%s" % (add, text.encode().hex(), ids_str(ids)))
        if decode:
            ids = self.tok.encode(text).ids
            self.dec(ids, 0)
            if self.tok.decode(ids, skip_special_tokens=True) != self.tok.decode(ids):
                self.dec(ids, 1)

    def dec(self, ids, skip):
        out = self.tok.decode(ids, skip_special_tokens=bool(skip))
        self.lines.append("dec\t%d\t%s\t%s" % (skip, ids_str(ids), out.encode().hex()))

    def encfile(self, path, nbytes):
        text, nbytes = shared_text(path, nbytes)
        self.lines.append("# first %d bytes of %s" % (nbytes, path))
        self.lines.append("encfile\t1\t%s\t%d\t%s" % (path, nbytes, ids_str(self.tok.encode(text).ids)))

    def encsum(self, path):
        text, _ = shared_text(path)
        ids = self.tok.encode(text).ids
        self.lines.append("# all of %s" % path)
        self.lines.append("encsum\t1\t%s\t%d\t%d" % (path, len(ids), crc_ids(ids)))

    def common(self, seed):
        for s in STRINGS + random_strings(seed, 40):
            self.enc(s)
        vocab = self.tok.get_vocab_size(with_added_tokens=True)
        self.lines.append("# ids out of range and odd byte runs")
        self.dec([0, vocab + 5, 7, 2**31 - 1], 0)
        self.dec([], 0)

    def save(self):
        with open(self.path, "w") as f:
            f.write("\n".join(self.lines) + "\n")
        print("wrote %s (%d lines)" % (self.path, len(self.lines)), file=sys.stderr)


def save_json(name, fname, obj):
    with open(os.path.join(OUT, name, fname), "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")


def variant(name, tj, config=None, effective=None):
    """Writes tj (a tokenizer.json dict) and config; returns the Tokenizer of
    `effective` (tj with the config's effect) for the goldens."""
    os.makedirs(os.path.join(OUT, name), exist_ok=True)
    save_json(name, "tokenizer.json", tj)
    if config is not None:
        save_json(name, "tokenizer_config.json", config)
    return Tokenizer.from_str(json.dumps(effective or tj))


# --------------------------------------------------------------------------
# SentencePiece style
# --------------------------------------------------------------------------

def train_sp():
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("\u2581"), normalizers.Replace(" ", "\u2581")])
    tok.pre_tokenizer = pre.Metaspace(prepend_scheme="never", split=True)
    # Latin lines only, so other scripts and emoji need the byte pieces. (No
    # limit_alphabet: its ties are broken at random.)
    trainer = trainers.BpeTrainer(vocab_size=420, special_tokens=["<unk>", "<s>", "</s>"], show_progress=False)
    tok.train_from_iterator(training_text(NON_ASCII_LINES[:3]), trainer)
    trained = json.loads(tok.to_str())["model"]
    # LLaMA layout: specials, the 256 byte pieces, then the learned pieces.
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    for b in range(256):
        vocab["<0x%02X>" % b] = len(vocab)
    for t, _ in sorted(trained["vocab"].items(), key=lambda kv: kv[1]):
        vocab.setdefault(t, len(vocab))
    sp = Tokenizer(models.BPE(vocab=vocab, merges=[tuple(m) for m in trained["merges"]], unk_token="<unk>",
                              byte_fallback=True, fuse_unk=True))
    sp.normalizer = normalizers.Sequence([normalizers.Prepend("\u2581"), normalizers.Replace(" ", "\u2581")])
    sp.decoder = decoders.Sequence([decoders.Replace("\u2581", " "), decoders.ByteFallback(), decoders.Fuse(),
                                    decoders.Strip(" ", 1, 0)])
    sp.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", 1)])
    sp.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in ("<unk>", "<s>", "</s>")])
    sp.add_special_tokens([AddedToken("<mask>", special=True, normalized=False, lstrip=True)])
    sp.add_tokens([AddedToken("naïve", normalized=True), AddedToken("ok", single_word=True, normalized=False)])
    sp.add_special_tokens([AddedToken("zap", special=True, normalized=True)])
    return json.loads(sp.to_str())


def sp_variants(tj):
    config = {"add_bos_token": True, "add_eos_token": False, "bos_token": "<s>",
              "eos_token": {"content": "</s>", "lstrip": False, "normalized": False, "rstrip": False,
                            "single_word": False, "special": True},
              "unk_token": "<unk>", "tokenizer_class": "LlamaTokenizer"}
    c = Cases("sp", variant("sp", tj, config), 1, 2)
    c.common(1)
    c.dec([100, 3 + 0xE4, 3 + 0xBD, 3 + 0xA0, 200, 3 + 0xE4, 3 + 0xBD, 3 + 0x41, 3 + 0xFF], 0)
    c.encfile(TINY, 3000)
    c.save()

    ms = json.loads(json.dumps(tj))
    ms["normalizer"] = None
    ms["pre_tokenizer"] = {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "first", "split": False}
    ms["decoder"] = {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "first", "split": False}
    ms["model"]["byte_fallback"] = False
    c = Cases("sp_metaspace", variant("sp_metaspace", ms, config), 1, 2)
    c.common(2)
    c.save()

    ms2 = json.loads(json.dumps(ms))
    ms2["pre_tokenizer"] = {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "never", "split": True}
    ms2["decoder"] = {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "never", "split": True}
    ms2["model"]["byte_fallback"] = True
    c = Cases("sp_metaspace_split", variant("sp_metaspace_split", ms2), 1, -1)
    c.common(3)
    c.save()

    unk = json.loads(json.dumps(tj))
    unk["normalizer"] = {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}
    unk["pre_tokenizer"] = {"type": "Metaspace", "replacement": "\u2581", "add_prefix_space": True}  # old form
    unk["model"]["byte_fallback"] = False
    unk["model"]["fuse_unk"] = False
    unk["decoder"] = {"type": "Sequence", "decoders": [
        {"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "},
        {"type": "Strip", "content": "e", "start": 0, "stop": 1}, {"type": "Fuse"},
        {"type": "Strip", "content": " ", "start": 2, "stop": 0}]}
    ucfg = dict(config, add_eos_token=True)
    eff = json.loads(json.dumps(unk))
    eff["post_processor"] = template("<s> $A </s>", {"<s>": 1, "</s>": 2})
    c = Cases("sp_unk", variant("sp_unk", unk, ucfg, eff), 1, 2)
    c.common(4)
    c.save()


def template(single, specials):
    pieces = []
    for p in single.split():
        if p == "$A":
            pieces.append({"Sequence": {"id": "A", "type_id": 0}})
        else:
            pieces.append({"SpecialToken": {"id": p, "type_id": 0}})
    return {"type": "TemplateProcessing", "single": pieces, "pair": pieces,
            "special_tokens": {k: {"id": k, "ids": [v], "tokens": [k]} for k, v in specials.items()}}


def stories260k():
    path = os.path.join(SHARED, "models/stories260K/tokenizer.json")
    tok = Tokenizer.from_file(path)
    c = Cases("stories260K", tok, 1, tok.token_to_id("</s>"))
    c.common(0)
    c.encfile(TINY, 20000)
    c.encfile(WIKI, 20000)
    c.encsum(TINY)
    c.encsum(WIKI)
    c.save()


# --------------------------------------------------------------------------
# Byte level
# --------------------------------------------------------------------------

def train_bytelevel():
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre.Sequence([pre.Split(Regex(LLAMA3_RE), "isolated"),
                                      pre.ByteLevel(add_prefix_space=False, use_regex=False)])
    trainer = trainers.BpeTrainer(vocab_size=700, special_tokens=["<|endoftext|>", "<|begin_of_text|>"],
                                  initial_alphabet=pre.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(training_text(), trainer)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken("<|endoftext|>", special=True, normalized=False),
                            AddedToken("<|begin_of_text|>", special=True, normalized=False),
                            AddedToken("<|eot_id|>", special=True, normalized=False)])
    tok.add_tokens([AddedToken("héllo wörld", normalized=True)])
    tj = json.loads(tok.to_str())
    # A piece no merge reaches: only ignore_merges emits it whole.
    tj["model"]["vocab"]["\u0120zqxj"] = max(tj["model"]["vocab"].values()) + 1
    tj["model"]["ignore_merges"] = True
    # Added tokens not in the model vocab take ids after it.
    n = len(tj["model"]["vocab"])
    next_id = n
    for t in tj["added_tokens"]:
        if t["content"] not in tj["model"]["vocab"]:
            t["id"], next_id = next_id, next_id + 1
    bot = tj["model"]["vocab"]["<|begin_of_text|>"]
    tj["post_processor"] = {"type": "Sequence", "processors": [
        {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
        template("<|begin_of_text|> $A", {"<|begin_of_text|>": bot})]}
    return tj


def bytelevel_variants(tj):
    v = tj["model"]["vocab"]
    bot, eot = v["<|begin_of_text|>"], v["<|endoftext|>"]
    config = {"bos_token": "<|begin_of_text|>", "eos_token": "<|endoftext|>", "tokenizer_class": "PreTrainedTokenizerFast"}
    c = Cases("bytelevel", variant("bytelevel", tj, config), bot, eot)
    c.common(5)
    c.lines.append("# bytes that are not UTF-8 on their own")
    c.dec([v["\u00c3"], v["a"], v["\u0120"], v["\u00e9"]], 0)
    c.encfile(WIKI, 20000)
    c.encsum(WIKI)
    c.save()

    g = json.loads(json.dumps(tj))
    g["model"]["ignore_merges"] = False
    g["model"]["merges"] = [" ".join(m) for m in g["model"]["merges"]]
    g["pre_tokenizer"] = {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True}
    g["post_processor"] = {"type": "RobertaProcessing", "sep": ["<|endoftext|>", eot], "cls": ["<|begin_of_text|>", bot],
                           "trim_offsets": True, "add_prefix_space": True}
    g["added_tokens"].append({"id": len(v) + 2, "content": "<mask>", "single_word": False, "lstrip": True,
                              "rstrip": True, "normalized": False, "special": True})
    g["added_tokens"].append({"id": len(v) + 3, "content": "foo", "single_word": True, "lstrip": False,
                              "rstrip": False, "normalized": False, "special": False})
    c = Cases("bytelevel_gpt2", variant("bytelevel_gpt2", g), bot, eot)
    c.common(6)
    c.save()

    q = json.loads(json.dumps(tj))
    q["normalizer"] = {"type": "NFC"}
    q["pre_tokenizer"]["pretokenizers"][0]["pattern"] = {"Regex": QWEN2_RE}
    q["post_processor"] = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}
    c = Cases("bytelevel_nfc", variant("bytelevel_nfc", q), -1, -1)
    c.common(7)
    c.save()

    s = json.loads(json.dumps(tj))
    s["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"String": "  "}, "behavior": "MergedWithNext", "invert": False},
        {"type": "Split", "pattern": {"Regex": "[,;]"}, "behavior": "Removed", "invert": False},
        {"type": "Split", "pattern": {"Regex": "\\p{Lu}"}, "behavior": "MergedWithPrevious", "invert": False},
        {"type": "Split", "pattern": {"Regex": "[aeiou]"}, "behavior": "Contiguous", "invert": False},
        {"type": "Split", "pattern": {"Regex": "\\s+"}, "behavior": "MergedWithPrevious", "invert": True},
        {"type": "Split", "pattern": {"String": "o"}, "behavior": "Removed", "invert": True},
        {"type": "Digits", "individual_digits": False},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}]}
    s["post_processor"] = None
    c = Cases("bytelevel_splits", variant("bytelevel_splits", s), -1, -1)
    c.common(8)
    c.save()
    d = json.loads(json.dumps(s))
    d["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"String": "o"}, "behavior": "MergedWithNext", "invert": True},
        {"type": "Split", "pattern": {"Regex": "[aeiou]+"}, "behavior": "Isolated", "invert": True},
        {"type": "Digits", "individual_digits": True},
        {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": False}]}
    d["decoder"] = None
    c = Cases("bytelevel_digits", variant("bytelevel_digits", d), -1, -1)
    c.common(9)
    c.save()


def main():
    stories260k()
    sp_variants(train_sp())
    bytelevel_variants(train_bytelevel())


if __name__ == "__main__":
    main()
