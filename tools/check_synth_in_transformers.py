#!/usr/bin/env python3
"""Checks that `kiln synth` output loads in Hugging Face transformers exactly as kiln reads it.

Run on the GPU machine (torch, transformers 5, safetensors; no network):

  python3 tools/check_synth_in_transformers.py --kiln build/kiln          # synths the tiny configs
  python3 tools/check_synth_in_transformers.py DIR [DIR ...]              # checks existing dirs

For each model directory it checks that:
  - safetensors.safe_open reads every file (the format is the Python library's);
  - AutoModelForCausalLM.from_pretrained reports no missing, unexpected or mismatched keys;
  - every parameter equals the tensor in the files (tied lm_head = embed_tokens);
  - the first 256 values of every tensor equal tools/synth_rng_reference.py's (seed from --seed);
  - a forward pass over a few tokens gives finite logits.
Exit code 0 when all pass; prints one line per directory.
"""
import argparse
import glob
import os
import subprocess
import sys
import tempfile

import torch
from safetensors import safe_open
from transformers import AutoModelForCausalLM

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import synth_rng_reference as ref  # noqa: E402

DTYPES = {"bf16": torch.bfloat16, "f16": torch.float16, "f32": torch.float32}


def file_tensors(directory):
    tensors = {}
    for path in sorted(glob.glob(os.path.join(directory, "*.safetensors"))):
        with safe_open(path, framework="pt") as f:
            for name in f.keys():
                tensors[name] = f.get_tensor(name)
    return tensors


def check(directory, seed, std):
    tensors = file_tensors(directory)
    for name, tensor in tensors.items():
        mean = 1.0 if name.endswith("norm.weight") else 0.0
        count = min(256, tensor.numel())
        want = torch.tensor(ref.values(seed, name, count, mean, std), dtype=torch.float32).to(tensor.dtype)
        got = tensor.flatten()[:count]
        if not torch.equal(got.view(torch.int16) if tensor.dtype != torch.float32 else got.view(torch.int32),
                           want.view(torch.int16) if tensor.dtype != torch.float32 else want.view(torch.int32)):
            return f"{name}: values differ from the reference generator"
    model, info = AutoModelForCausalLM.from_pretrained(directory, output_loading_info=True)
    for key in ("missing_keys", "unexpected_keys", "mismatched_keys", "error_msgs"):
        if info.get(key):
            return f"{key}: {info[key]}"
    state = model.state_dict()
    for name, tensor in tensors.items():
        if not torch.equal(state[name].to(tensor.dtype), tensor):
            return f"{name}: transformers' parameter differs from the file"
    if model.config.tie_word_embeddings and not torch.equal(state["lm_head.weight"], state["model.embed_tokens.weight"]):
        return "lm_head is not tied to embed_tokens"
    with torch.no_grad():
        logits = model(torch.tensor([[1, 2, 3, 4, 5]])).logits
    if not torch.isfinite(logits.float()).all():
        return "non-finite logits"
    return None


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dirs", nargs="*")
    parser.add_argument("--kiln", help="kiln binary: synth tests/data/configs/tiny-*.json in every dtype first")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--std", type=float, default=0.02)
    args = parser.parse_args()
    dirs = list(args.dirs)
    scratch = tempfile.mkdtemp(prefix="kiln-synth-check-")
    if args.kiln:
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        for config in sorted(glob.glob(os.path.join(root, "tests/data/configs/tiny-*.json"))):
            for dtype in DTYPES:
                for shard in ("", "100000"):
                    out = os.path.join(scratch, f"{os.path.basename(config)[:-5]}-{dtype}{'-sharded' if shard else ''}")
                    cmd = [args.kiln, "synth", "--config", config, "--out", out, "--dtype", dtype,
                           "--seed", str(args.seed), "--std", str(args.std)]
                    if shard:
                        cmd += ["--max-shard-size", shard]
                    subprocess.run(cmd, check=True, stderr=subprocess.DEVNULL)
                    dirs.append(out)
    failures = 0
    for directory in dirs:
        problem = check(directory, args.seed, args.std)
        print(f"{directory}: {'ok' if problem is None else 'FAIL ' + problem}")
        failures += problem is not None
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
