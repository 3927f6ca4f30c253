"""interop_nll.py - loads one qz artifact in one Python consumer and computes
its mean NLL with qz-eval's protocol (docs/qz-eval.md): the whole text
tokenized once with the model's tokenizer (BOS in front when it adds one), non-overlapping windows of
SEQLEN tokens (the first WINDOWS of them), every token after a window's first
scored. Run by scripts/interop-check.sh inside its virtualenv; prints one JSON
object: {"loads", "nll", "tokens_match", "problems", "log_tail"}.

  python interop_nll.py CONSUMER MODEL_DIR TEXT SEQLEN WINDOWS QZ_TOKENS DTYPE

CONSUMER: transformers (AutoModelForCausalLM; the backend the artifact's
quantization_config selects), transformers@torch_awq (the same with the AWQ
backend torch_awq chosen at load time, as a CPU user must for per-channel
AWQ), gptqmodel (GPTQModel.load, torch kernels on
CPU), transformers@127 (transformers with compressed-tensors' dynamic
int8 activation scale changed from max/127.5 to qz's and vLLM's max/127, to
measure what that convention alone changes), transformers@weights
(transformers with compressed-tensors' input-activation quantization turned
off: the int8 weights alone, against `qz-eval --act-bits 0`), vllm (vllm.LLM on the GPU, FP16, the NLL from prompt_logprobs; needs
an NVIDIA GPU: written for --vllm, not yet run). QZ_TOKENS: `qz-eval --tokenize --json` output for TEXT, to prove both
sides score the same ids. DTYPE: LOAD[:COMPUTE], torch dtypes (float16,
bfloat16, float32): the consumer loads the artifact in LOAD (GPTQModel's
CPU kernels accept only float16/bfloat16), then the model is cast to
COMPUTE (default LOAD) for the forward pass. float16:float32 computes the
packed weights exactly (their scales are FP16) with qz-eval's FP32 math.

A load is clean when transformers reports no missing, unexpected or
mismatched keys and the captured log has no line saying something was
ignored, skipped, missing, unexpected or newly initialized - except
GPTQModel's notes that it ignores modules_in_block_to_quantize,
modules_to_not_convert and qz_modules_not_quantized: those keys are for
transformers, AutoAWQ and qz, and the same modules are named for GPTQModel
by the "dynamic" rules it does read (FORMAT.md); transformers' note that
a backend passed at load time overrides the checkpoint's
(transformers@torch_awq); and torch.compile's report that a GPTQModel
kernel hit its recompile limit (one compiled graph per weight shape and
g_idx; the rest run eagerly, same numbers).
"""
import contextlib
import io
import json
import logging
import re
import sys
import warnings

SUSPECT = re.compile(r"\bignor(ed|ing)\b|\bmissing\b|unexpected|newly initialized|not initialized|not used|mismatch", re.I)
BENIGN = re.compile(r"Ignoring unknown parameter in the quantization configuration: "
                    r"(modules_in_block_to_quantize|modules_to_not_convert|qz_modules_not_quantized)\.|"
                    r"loading attributes \(e\.g\. \[[^]]*'backend'[^]]*\]\) will be overwritten|"
                    r"torch/_dynamo/convert_frame\.py:\d+\] \[\d+/\d+\]")


def token_ids(model_dir, text):
    """The whole text tokenized once, with BOS in front when the model's
    tokenizer adds one: tokenizer_config.json's add_bos_token when it says
    (SmolLM2 says false), else tokenizer.json's post-processor."""
    import os
    from tokenizers import Tokenizer
    cfg = json.load(open(f"{model_dir}/config.json"))
    tok = Tokenizer.from_file(f"{model_dir}/tokenizer.json")
    tc_path = f"{model_dir}/tokenizer_config.json"
    add_bos = json.load(open(tc_path)).get("add_bos_token") if os.path.exists(tc_path) else None
    if add_bos is None:
        return tok.encode(text).ids
    return ([cfg["bos_token_id"]] if add_bos else []) + tok.encode(text, add_special_tokens=False).ids


def use_scale_127():
    """compressed-tensors' symmetric int8 scale is max / (255 / 2); make it
    max / 127 (its clamp to -128..127 then never reaches -128, as qz's
    -127..127 grid). Weights are unaffected: their scales come from the
    checkpoint; only the dynamic activation scales are computed here."""
    import compressed_tensors.quantization.utils.helpers as h
    orig = h.calculate_qparams

    def scale_127(min_vals, max_vals, args, *a, **k):
        scale, zp = orig(min_vals, max_vals, args, *a, **k)
        if args.type == "int" and args.num_bits == 8 and args.symmetric:
            scale = scale * (127.5 / 127)
        return scale, zp
    h.calculate_qparams = scale_127


def load(consumer, model_dir, dtype):
    """The model and the list of load problems transformers itself reports."""
    import torch
    if consumer == "transformers@127":
        use_scale_127()
    dt = getattr(torch, dtype)
    if consumer == "gptqmodel":
        from gptqmodel import BACKEND, GPTQModel
        m = GPTQModel.load(model_dir, backend=BACKEND.TORCH, device="cpu", dtype=dt)
        return m.model, []
    from transformers import AutoModelForCausalLM
    extra = {}
    if consumer == "transformers@torch_awq":  # the AWQ backend chosen at load time
        from transformers import AwqConfig
        qc = json.load(open(f"{model_dir}/config.json"))["quantization_config"]
        extra["quantization_config"] = AwqConfig(bits=qc["bits"], group_size=qc["group_size"], backend="torch_awq")
    m, info = AutoModelForCausalLM.from_pretrained(model_dir, dtype=dt, device_map="cpu", output_loading_info=True, **extra)
    if consumer == "transformers@weights":  # the weights alone: no dynamic activation quantization
        for mod in m.modules():
            if getattr(mod, "quantization_scheme", None) is not None:
                mod.quantization_scheme.input_activations = None
    problems = [f"{k}: {v}" for k, v in info.items() if v and k != "error_msgs"] + list(info.get("error_msgs") or [])
    return m, problems


def vllm_nll(model_dir, ids, seqlen, windows):
    """qz-eval's protocol through vLLM: each window one prompt, the logprob
    vLLM reports for every prompt token after the first."""
    from vllm import LLM, SamplingParams
    n = min(windows, len(ids) // seqlen)
    llm = LLM(model=model_dir, dtype="float16", max_model_len=seqlen, enforce_eager=True, gpu_memory_utilization=0.3)
    prompts = [{"prompt_token_ids": ids[w * seqlen:(w + 1) * seqlen]} for w in range(n)]
    outs = llm.generate(prompts, SamplingParams(max_tokens=1, prompt_logprobs=0))
    total = 0.0
    for o, p in zip(outs, prompts):
        toks = p["prompt_token_ids"]
        total -= sum(o.prompt_logprobs[i][toks[i]].logprob for i in range(1, seqlen))
    return total / (n * (seqlen - 1))


def window_nll_sums(model, ids, seqlen, windows):
    """Per window of qz-eval's protocol, the NLL summed over its scored
    tokens (every one after the first)."""
    import torch
    sums = []
    with torch.no_grad():
        for w in range(min(windows, len(ids) // seqlen)):
            x = torch.tensor([ids[w * seqlen:(w + 1) * seqlen]])
            lp = torch.log_softmax(model(input_ids=x).logits.double()[0, :-1], dim=-1)
            sums.append(-lp.gather(1, x[0, 1:, None]).sum().item())
    return sums


def mean_nll(model, ids, seqlen, windows):
    sums = window_nll_sums(model, ids, seqlen, windows)
    return sum(sums) / (len(sums) * (seqlen - 1))


def main():
    consumer, model_dir, text_path, seqlen, windows, qz_tokens, dtype = sys.argv[1:8]
    seqlen, windows = int(seqlen), int(windows)
    out = {"loads": False, "nll": None, "tokens_match": None, "problems": [], "log_tail": ""}
    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    logging.getLogger().addHandler(handler)
    logging.getLogger().setLevel(logging.INFO)
    try:
        ids = token_ids(model_dir, open(text_path, encoding="utf-8").read())
        out["tokens_match"] = ids == json.load(open(qz_tokens))["ids"]
        with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf), warnings.catch_warnings():
            warnings.simplefilter("always")
            logging.captureWarnings(True)
            import transformers
            transformers.logging.set_verbosity_info()
            transformers.logging.disable_default_handler()
            transformers.logging.add_handler(handler)
            if consumer == "vllm":
                out["nll"] = vllm_nll(model_dir, ids, seqlen, windows)
                out["loads"] = True
            else:
                load_dt, _, compute_dt = dtype.partition(":")
                model, out["problems"] = load(consumer, model_dir, load_dt)
                # nn.Module.to: transformers refuses PreTrainedModel.to(dtype) on a GPTQ model
                torch = __import__("torch")
                model = torch.nn.Module.to(model, getattr(torch, compute_dt or load_dt)).eval()
                out["loads"] = True
                out["nll"] = mean_nll(model, ids, seqlen, windows)
    except Exception as e:  # reported, not raised: the table names the cause
        out["problems"].append(f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"[:300])
    log = buf.getvalue()
    out["problems"] += sorted({ln.strip()[:200] for ln in log.splitlines() if SUSPECT.search(ln) and not BENIGN.search(ln)})
    out["log_tail"] = log[-1500:]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
