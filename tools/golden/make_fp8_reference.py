#!/usr/bin/env python3
"""PyTorch reference for an FP8 model (the 8B shape with kiln synth weights, or any FP8 checkpoint).

Runs on the GPU machine (torch with float8_e4m3fn, transformers, safetensors; no network). Builds
the model from config.json in bfloat16 with HF transformers (sdpa attention), and replaces every
quantized linear by an emulation of FP8 inference written from the formats' definitions:

  weights   the checkpoint's E4M3 codes x their scales (compressed-tensors `weight_scale` per
            channel or tensor; the fp8 format's `weight_scale_inv` per 128x128 block), or with
            --online-fp8 a bf16 checkpoint quantized per output row: scale = max(absmax / 448,
            1 / (448 * 512)), code = (w / scale) clamped to +-448, cast to torch.float8_e4m3fn;
  inputs    quantized by the same rule with torch.float8_e4m3fn, per token (per token and 128
            columns for block weights; the checkpoint's input_scale when static), then
            dequantized;
  product   in float32 (TF32 off), rounded to bfloat16, as kiln's kernels accumulate in f32.

Everything else (embedding, norms, attention, lm_head) is HF's bf16 model. It feeds NUM_PROMPTS
prompts of PROMPT_LEN random ids (the generator of make_large_bf16_reference.py: seed 1234,
ids below 128000) and writes OUT in that script's format (per position: top-1 id and
log-probability, the runner-up's), which tests/unit/model/cuda/large_golden_test.cc reads:

    python3 tools/golden/make_fp8_reference.py --model-dir /tmp/r1-8b-fp8 --out /tmp/r1-8b-fp8-ref.json
    KILN_LARGE_GOLDEN_MODEL=/tmp/r1-8b-fp8 KILN_LARGE_GOLDEN_REFERENCE=/tmp/r1-8b-fp8-ref.json \\
        forward_cuda_tests --gtest_filter='LargeGolden*'

With --hf-native (fp8 block checkpoints), transformers' own FP8 loading (FineGrainedFP8) runs the
same prompts too and the script prints how often its top-1 matches the emulation's: a check of
the emulation against an implementation nobody here wrote.
"""
import argparse
import glob
import json
import os
import re
import time

import torch
import torch.nn.functional as F
import transformers
from safetensors import safe_open

FP8_MAX = 448.0
MIN_SCALE = 1.0 / (448.0 * 512.0)
BLOCK = 128


def scale_for(absmax):
    return torch.clamp(absmax / FP8_MAX, min=MIN_SCALE)


def quantize(x, scale):
    """Codes of x / scale as float8_e4m3fn (round to nearest even, saturated), as float32 values."""
    return (x / scale).clamp(-FP8_MAX, FP8_MAX).to(torch.float8_e4m3fn).to(torch.float32)


class Fp8Linear(torch.nn.Module):
    """y = (quantized x) . (codes x scales)^T in f32, rounded to bf16."""

    def __init__(self, codes, weight_scale, blocks, activation, input_scale, bias, out_dtype=torch.bfloat16):
        super().__init__()
        self.out_dtype = out_dtype  # bf16 as kiln's GPU; f32 for the CPU golden fixtures
        self.codes = codes  # [n, k] float8_e4m3fn on the GPU
        self.weight_scale = weight_scale  # f32: [n, 1] or blocks [ceil(n/128), ceil(k/128)]
        self.blocks = blocks
        self.activation = activation  # "token", "group", "static" or None (weight-only)
        self.input_scale = input_scale
        self.bias = bias

    def dequantized_weight(self):
        w = self.codes.to(torch.float32)
        if self.blocks:
            n, k = w.shape
            s = self.weight_scale.repeat_interleave(BLOCK, 0)[:n].repeat_interleave(BLOCK, 1)[:, :k]
            return w * s
        return w * self.weight_scale

    def quantized_input(self, x):
        if self.activation is None:
            return x
        if self.activation == "static":
            return quantize(x, self.input_scale) * self.input_scale
        if self.activation == "token":
            s = scale_for(x.abs().amax(dim=-1, keepdim=True))
            return quantize(x, s) * s
        rows, k = x.shape
        groups = (k + BLOCK - 1) // BLOCK
        padded = F.pad(x, (0, groups * BLOCK - k)).view(rows, groups, BLOCK)
        s = scale_for(padded.abs().amax(dim=-1, keepdim=True))
        return (quantize(padded, s) * s).view(rows, groups * BLOCK)[:, :k]

    def forward(self, x):
        shape = x.shape
        x = self.quantized_input(x.reshape(-1, shape[-1]).to(torch.float32))
        y = x @ self.dequantized_weight().t()
        if self.bias is not None:
            y = y + self.bias.to(torch.float32)
        return y.to(self.out_dtype).view(*shape[:-1], -1)


def read_tensors(model_dir):
    tensors = {}
    for path in sorted(glob.glob(os.path.join(model_dir, "*.safetensors"))):
        with safe_open(path, framework="pt", device="cpu") as f:
            for name in f.keys():
                tensors[name] = f.get_tensor(name)
    return tensors


def scheme_of(quantization_config, online):
    """(blocks, activation, is_quantized(module name)) for the checkpoint's format."""
    if online:
        return False, "token", lambda name: name != "lm_head"
    q = quantization_config
    if q["quant_method"] == "fp8":
        blocks = q.get("weight_block_size") is not None
        activation = "group" if blocks else ("static" if q.get("activation_scheme") == "static" else "token")
        ignored = set(q.get("modules_to_not_convert") or []) | set(q.get("ignored_layers") or []) | {"lm_head"}
        return blocks, activation, lambda name: not any(name == i or name.startswith(i + ".") for i in ignored)
    if q["quant_method"] != "compressed-tensors":
        raise SystemExit(f"quant_method {q['quant_method']} is not FP8")
    group = next(iter(q["config_groups"].values()))
    weights, inputs = group["weights"], group.get("input_activations")
    blocks = weights.get("strategy") == "block"
    if inputs is None:
        activation = None
    elif inputs.get("dynamic"):
        activation = "group" if inputs.get("strategy") == "group" else "token"
    else:
        activation = "static"
    patterns = q.get("ignore") or []

    def quantized(name):
        for p in patterns:
            if (p.startswith("re:") and re.match(p[3:], name)) or p == name:
                return False
        return True

    return blocks, activation, quantized


def build(model_dir, online, dtype=torch.bfloat16, device="cuda", attention="sdpa", weight_only=False):
    """The model of model_dir in `dtype` on `device` with its FP8 linears emulated (weight_only:
    bf16 activations, as kiln's W8A16 path)."""
    config_json = json.load(open(os.path.join(model_dir, "config.json")))
    quantization_config = config_json.pop("quantization_config", None)
    if quantization_config is None and not online:
        raise SystemExit(f"{model_dir} has no quantization_config: pass --online-fp8 for a bf16 checkpoint")
    blocks, activation, quantized = scheme_of(quantization_config, online)
    if weight_only:
        activation = None
    config = transformers.AutoConfig.for_model(**config_json)
    with torch.device(device):
        try:
            model = transformers.AutoModelForCausalLM.from_config(config, dtype=dtype, attn_implementation=attention)
        except TypeError:  # transformers 4.x spelling
            model = transformers.AutoModelForCausalLM.from_config(config, torch_dtype=dtype,
                                                                  attn_implementation=attention)
    tensors = read_tensors(model_dir)
    state = {}
    modules = dict(model.named_modules())
    fp8_layers = 0
    for name, module in list(modules.items()):
        if not isinstance(module, torch.nn.Linear):
            continue
        weight = tensors.get(name + ".weight")
        if weight is None:
            continue  # a tied head
        is_fp8 = weight.dtype == torch.float8_e4m3fn
        if not is_fp8 and not (online and quantized(name)):
            continue
        bias = tensors.get(name + ".bias")
        bias = bias.to(device) if bias is not None else None
        if is_fp8:
            scale = tensors.get(name + ".weight_scale_inv", tensors.get(name + ".weight_scale")).to(torch.float32)
            if not blocks:
                scale = scale.reshape(-1, 1) if scale.numel() > 1 else scale.reshape(1, 1)
            codes = weight.to(device)
            input_scale = tensors.get(name + ".input_scale")
            input_scale = input_scale.to(torch.float32).reshape(()).to(device) if input_scale is not None else None
        else:  # online: quantize the checkpoint's rows
            w = weight.to(device, torch.float32)
            scale = scale_for(w.abs().amax(dim=1, keepdim=True))
            codes = (w / scale).clamp(-FP8_MAX, FP8_MAX).to(torch.float8_e4m3fn)
            input_scale = None
        parent_name, _, child = name.rpartition(".")
        setattr(modules[parent_name], child,
                Fp8Linear(codes, scale.to(device), blocks, activation, input_scale, bias, dtype))
        fp8_layers += 1
    for name, value in tensors.items():
        if value.dtype == torch.float8_e4m3fn or "weight_scale" in name or name.endswith("input_scale"):
            continue
        state[name] = value.to(dtype)
    missing, unexpected = model.load_state_dict(state, strict=False)
    # The emulated linears hold their tensors as plain attributes: their checkpoint entries
    # (the bf16 weight of online FP8, Qwen2's biases) are expected to be left over.
    fp8_modules = {n for n, m in model.named_modules() if isinstance(m, Fp8Linear)}
    unexpected = [u for u in unexpected if u.rpartition(".")[0] not in fp8_modules]
    missing = [m for m in missing if not (m == "lm_head.weight" and config.tie_word_embeddings)]
    if missing or unexpected:
        raise SystemExit(f"weights do not load cleanly: missing {missing[:5]}, unexpected {unexpected[:5]}")
    if config.tie_word_embeddings:
        model.tie_weights()
    print(f"{fp8_layers} FP8 linears emulated ({'blocks' if blocks else 'per channel'}, activations "
          f"{activation or 'bf16 (weight-only)'})", flush=True)
    return model.eval()


def run_prompts(model, prompts_ids):
    out = []
    with torch.no_grad():
        for ids in prompts_ids:
            logits = model(ids[None].to("cuda")).logits[0].float()
            logprobs = torch.log_softmax(logits, dim=-1)
            top2 = torch.topk(logprobs, 2, dim=-1)
            out.append({"ids": ids.tolist(), "top1": top2.indices[:, 0].tolist(),
                        "top1_logprob": top2.values[:, 0].tolist(), "top2_logprob": top2.values[:, 1].tolist()})
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model-dir", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--online-fp8", action="store_true", help="quantize a bf16 checkpoint as --quantization fp8")
    parser.add_argument("--hf-native", action="store_true",
                        help="also run transformers' own FP8 loading (fp8 block checkpoints) and compare")
    parser.add_argument("--weight-only", action="store_true",
                        help="bf16 activations (W8A16): the reference of kiln's weight-only path")
    parser.add_argument("--num-prompts", type=int, default=4)
    parser.add_argument("--prompt-len", type=int, default=256)
    parser.add_argument("--seed", type=int, default=1234)
    args = parser.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False

    generator = torch.Generator().manual_seed(args.seed)
    prompts_ids = [torch.randint(0, 128000, (args.prompt_len,), generator=generator) for _ in range(args.num_prompts)]
    start = time.time()
    model = build(args.model_dir, args.online_fp8, weight_only=args.weight_only)
    print(f"built in {time.time() - start:.1f} s", flush=True)
    prompts = run_prompts(model, prompts_ids)
    with open(args.out, "w") as f:
        json.dump({"model_dir": args.model_dir, "dtype": "fp8-emulated", "transformers": transformers.__version__,
                   "torch": torch.__version__, "prompts": prompts}, f)
    print(f"wrote {args.out}: {args.num_prompts} prompts x {args.prompt_len} positions", flush=True)
    if args.hf_native:
        del model
        torch.cuda.empty_cache()
        try:
            native = transformers.AutoModelForCausalLM.from_pretrained(
                args.model_dir, dtype=torch.bfloat16, attn_implementation="sdpa", device_map="cuda").eval()
        except Exception as error:  # the comparison is a report; the reference is written
            print(f"transformers' native FP8 loading failed: {type(error).__name__}: {error}", flush=True)
            return
        native_prompts = run_prompts(native, prompts_ids)
        agree = clear = clear_agree = total = 0
        for mine, theirs in zip(prompts, native_prompts):
            for p, token in enumerate(theirs["top1"]):
                same = token == mine["top1"][p]
                agree += same
                total += 1
                if mine["top1_logprob"][p] - mine["top2_logprob"][p] > 0.1:
                    clear += 1
                    clear_agree += same
        print(f"transformers' native FP8 vs this emulation: top-1 agreement {agree / total:.4f} overall, "
              f"{clear_agree / max(clear, 1):.4f} over the {clear} positions with margin > 0.1", flush=True)

if __name__ == "__main__":
    main()
