"""w8a8_noise.py - how much a W8A8 model's NLL depends on float rounding alone
(issue 14: the W8A8 tolerance of scripts/interop-check.sh, docs/interop.md).

A dynamic int8 activation code is round(x / (max|x| / 127)): a one-ulp
difference in x flips a code where x / scale lies next to a half-integer,
and each flip moves every later activation. Two float32 implementations of
the same W8A8 model therefore give different NLLs, and the gap is noise, not
a layout difference. This script measures it per window of SEQLEN tokens:

  - ref64: an independent forward in torch float64 (transformers' Llama with
    the artifact's int8 weights times their scales, and every decoder
    linear's input fake-quantized per token by a forward pre-hook);
  - ref32: the same forward in float32;
  - qz-eval (float32), per window from its cumulative means
    (--max-windows 1..WINDOWS: WINDOWS runs, quadratic in WINDOWS, since
    qz-eval reports no per-window NLL);
  - ref64 with compressed-tensors' convention, max/127.5 and codes -128..127.

It prints one JSON object: for ref32 and qz-eval the mean and standard
deviation over windows of (NLL - ref64's), the relative sd of a JOB_WINDOWS
mean that implies, and what max/127.5 changes.

  python w8a8_noise.py ARTIFACT TEXT QZ_EVAL [SEQLEN [WINDOWS [JOB_WINDOWS]]]

Run in scripts/interop-check.sh's virtualenv (torch, transformers,
safetensors). Defaults: SEQLEN 256, WINDOWS 32, JOB_WINDOWS 4.
"""
import glob
import json
import math
import subprocess
import sys

import torch
from safetensors.torch import load_file
from transformers import AutoConfig, LlamaForCausalLM

from interop_nll import window_nll_sums  # qz-eval's protocol, as the interop job scores it


def reference_model(artifact, dtype, divisor):
    tensors = {}
    for f in sorted(glob.glob(f"{artifact}/*.safetensors")):
        tensors.update(load_file(f))
    state = {}
    for k, v in tensors.items():
        if k.endswith(".weight_scale"):
            continue
        if v.dtype == torch.int8:
            v = v.double() * tensors[k + "_scale"].double()
        state[k] = v.to(dtype)
    cfg = AutoConfig.from_pretrained(artifact)
    del cfg.quantization_config
    model = LlamaForCausalLM(cfg).to(dtype)
    missing = model.load_state_dict(state, strict=False).missing_keys
    assert set(missing) <= {"lm_head.weight"}, missing  # tied to the embedding
    model.tie_weights()
    qmin = -128 if divisor > 127 else -127

    def fake_quant(module, args):
        x = args[0]
        scale = x.abs().amax(-1, keepdim=True).clamp_min(1e-5) / divisor
        return (torch.clamp(torch.round(x / scale), qmin, 127) * scale,)

    for name, mod in model.named_modules():
        if isinstance(mod, torch.nn.Linear) and not name.endswith("lm_head"):
            mod.register_forward_pre_hook(fake_quant)
    return model.eval()


def window_nlls(model, ids, seqlen, windows):
    return [t / (seqlen - 1) for t in window_nll_sums(model, ids, seqlen, windows)]


def qz_window_nlls(qz_eval, artifact, text, seqlen, windows):
    means = []
    for k in range(1, windows + 1):
        r = subprocess.run([qz_eval, artifact, "--text", text, "--seqlen", str(seqlen), "--max-windows", str(k),
                            "--json", "--quiet"], check=True, capture_output=True, text=True)
        means.append(json.loads(r.stdout)["mean_nll"])
    return [means[0]] + [means[k] * (k + 1) - means[k - 1] * k for k in range(1, windows)]


def stats(diffs, base, job_windows):
    n = len(diffs)
    mean = sum(diffs) / n
    sd = math.sqrt(sum((d - mean) ** 2 for d in diffs) / (n - 1))
    return {"mean": mean, "se": sd / math.sqrt(n), "sd_window": sd, "rel_sd_job_mean": sd / math.sqrt(job_windows) / base}


def main():
    artifact, text, qz_eval = sys.argv[1:4]
    opt = lambda i, default: int(sys.argv[i]) if len(sys.argv) > i else default
    seqlen, windows, job_windows = opt(4, 256), opt(5, 32), opt(6, 4)
    ids = json.loads(subprocess.run([qz_eval, artifact, "--tokenize", text, "--json"], check=True,
                                    capture_output=True, text=True).stdout)["ids"]
    windows = min(windows, len(ids) // seqlen)
    ref64 = window_nlls(reference_model(artifact, torch.float64, 127.0), ids, seqlen, windows)
    ref32 = window_nlls(reference_model(artifact, torch.float32, 127.0), ids, seqlen, windows)
    ct64 = window_nlls(reference_model(artifact, torch.float64, 127.5), ids, seqlen, windows)
    qz = qz_window_nlls(qz_eval, artifact, text, seqlen, windows)
    base = sum(ref64) / windows
    diff = lambda xs: [a - b for a, b in zip(xs, ref64)]
    print(json.dumps({
        "artifact": artifact, "seqlen": seqlen, "windows": windows, "job_windows": job_windows,
        "nll_ref64": base,
        "ref32_minus_ref64": stats(diff(ref32), base, job_windows),
        "qz_minus_ref64": stats(diff(qz), base, job_windows),
        "div127.5_minus_div127_ref64": stats(diff(ct64), base, job_windows),
    }, indent=1))


if __name__ == "__main__":
    main()
