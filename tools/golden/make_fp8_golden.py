#!/usr/bin/env python3
"""Golden log-probabilities of the tiny FP8 models of tests/golden/model_fp8/manifest.json.

Runs on the GPU machine's CPU (torch with float8_e4m3fn, transformers 5, no network), normally
through tools/golden/make_fp8_golden.sh, which first writes each model with `kiln synth`. Each
model is built in float32 with eager attention and its FP8 linears emulated as
tools/golden/make_fp8_reference.py does (codes x scales; activations quantized with
torch.float8_e4m3fn per token, or per token and 128 columns for block weights; --online for the
`online` entries, which quantize the f32 checkpoint per row). Writes <out-dir>/<name>.json in
the format of tests/golden/model/ (greedy token, its log-probability, the runner-up's, 16 probe
ids per position) plus "quantization"; tests/unit/model/fp8_golden_test.cc compares the CPU
backend with it.
"""
import argparse
import json
import os
import sys

import torch
import transformers

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from make_fp8_reference import build  # noqa: E402

GOLDEN_DIR = os.path.join(os.path.dirname(os.path.dirname(HERE)), "tests", "golden", "model_fp8")


def r(x):
    return float(f"{x:.6f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models-dir", required=True)
    parser.add_argument("--out-dir", default=GOLDEN_DIR)
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    manifest = json.load(open(os.path.join(GOLDEN_DIR, "manifest.json")))
    for index, (name, entry) in enumerate(sorted(manifest["models"].items())):
        model_dir = os.path.join(args.models_dir, name)
        model = build(model_dir, entry["quantization"] == "online", dtype=torch.float32, device="cpu",
                      attention="eager")
        vocab = model.config.vocab_size
        gen = torch.Generator().manual_seed(2000 + index)
        probe_ids = sorted(torch.randperm(vocab, generator=gen)[: manifest["num_probe_ids"]].tolist())
        prompts = []
        for length in manifest["prompt_lengths"]:
            ids = torch.randint(0, vocab, (length,), generator=gen)
            with torch.no_grad():
                logits = model(input_ids=ids[None]).logits[0].float()
            logprobs = torch.log_softmax(logits.double(), dim=-1)
            top = logprobs.topk(2, dim=-1)
            prompts.append({
                "ids": ids.tolist(),
                "greedy": top.indices[:, 0].tolist(),
                "greedy_logprob": [r(x) for x in top.values[:, 0].tolist()],
                "second_logprob": [r(x) for x in top.values[:, 1].tolist()],
                "probe_logprobs": [[r(x) for x in row] for row in logprobs[:, probe_ids].tolist()],
            })
        fixture = {"name": name, "config": entry["config"] + ".json", "quantization": entry["quantization"],
                   "seed": entry["seed"], "std": entry["std"], "dtype": "f32", "probe_ids": probe_ids,
                   "versions": {"torch": torch.__version__, "transformers": transformers.__version__},
                   "prompts": prompts}
        out = os.path.join(args.out_dir, name + ".json")
        with open(out, "w") as f:
            json.dump(fixture, f, separators=(",", ":"))
            f.write("\n")
        print(f"{name}: {sum(len(p['ids']) for p in prompts)} positions -> {out}", flush=True)


if __name__ == "__main__":
    main()
