#!/usr/bin/env python3
"""Golden log-probabilities of the tiny random models of tests/golden/model/manifest.json.

Runs on the GPU machine (torch 2.11, transformers 5.17, no network), normally through
tools/golden/make_model_golden.sh, which first makes each model directory with
`kiln synth --config tests/golden/model/configs/<name>.json --out <models-dir>/<name>
--seed <seed> --std <std> --dtype f32`. For each model it loads the directory with HF transformers
(eager attention, float32, on the CPU by default so no TF32 or reduced-precision kernel is
involved), runs prompts of manifest.prompt_lengths random token ids, and writes
<out-dir>/<name>.json:

  {"name", "config": "<name>.json", "seed", "std", "dtype": "f32", "probe_ids": [16 ids],
   "versions": {...},
   "prompts": [{"ids": [...],
                "greedy": [id per position], "greedy_logprob": [...],
                "second_logprob": [...],          # the runner-up, to judge near-ties
                "probe_logprobs": [[16 per position], ...]}]}

Position p holds the distribution of the token after ids[0..p]. kiln's golden test
(tests/unit/model/golden_test.cc) re-creates the same model with the synth library API and
compares within 1e-3.
"""
import argparse
import json
import os
import sys

import torch
import transformers
from transformers import LlamaForCausalLM, Qwen2ForCausalLM

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
GOLDEN_DIR = os.path.join(REPO, "tests", "golden", "model")
ARCHITECTURES = {"LlamaForCausalLM": LlamaForCausalLM, "Qwen2ForCausalLM": Qwen2ForCausalLM}


def load(model_dir, architecture, device):
    cls = ARCHITECTURES[architecture]
    kwargs = dict(attn_implementation="eager", output_loading_info=True)
    try:
        model, info = cls.from_pretrained(model_dir, dtype=torch.float32, **kwargs)
    except TypeError:  # transformers 4.x spelling
        model, info = cls.from_pretrained(model_dir, torch_dtype=torch.float32, **kwargs)
    # A name mismatch would leave HF's own random init in place and the fixture meaningless.
    missing = [k for k in info.get("missing_keys", []) if k != "lm_head.weight"]
    if missing or info.get("unexpected_keys") or info.get("mismatched_keys"):
        sys.exit(f"{model_dir}: weights do not load cleanly: {info}")
    if model.config.tie_word_embeddings:
        assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()
    for p in model.parameters():
        assert p.dtype == torch.float32, p.dtype
    return model.to(device).eval()


def r(x):
    return float(f"{x:.6f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models-dir", required=True, help="holds one kiln-synth directory per model")
    parser.add_argument("--out-dir", default=GOLDEN_DIR)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--only", nargs="*", help="model names (default: all of the manifest)")
    args = parser.parse_args()

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.set_num_threads(os.cpu_count() or 1)
    manifest = json.load(open(os.path.join(GOLDEN_DIR, "manifest.json")))
    for index, (name, entry) in enumerate(sorted(manifest["models"].items())):
        if args.only and name not in args.only:
            continue
        config = json.load(open(os.path.join(GOLDEN_DIR, "configs", name + ".json")))
        model_dir = os.path.join(args.models_dir, name)
        model = load(model_dir, config["architectures"][0], args.device)
        vocab = config["vocab_size"]
        gen = torch.Generator().manual_seed(1000 + index)
        probe_ids = sorted(torch.randperm(vocab, generator=gen)[: manifest["num_probe_ids"]].tolist())
        prompts = []
        for length in manifest["prompt_lengths"]:
            ids = torch.randint(0, vocab, (length,), generator=gen)
            with torch.no_grad():
                logits = model(input_ids=ids[None].to(args.device)).logits[0].float().cpu()
            logprobs = torch.log_softmax(logits.double(), dim=-1)
            top = logprobs.topk(2, dim=-1)
            prompts.append({
                "ids": ids.tolist(),
                "greedy": top.indices[:, 0].tolist(),
                "greedy_logprob": [r(x) for x in top.values[:, 0].tolist()],
                "second_logprob": [r(x) for x in top.values[:, 1].tolist()],
                "probe_logprobs": [[r(x) for x in row] for row in logprobs[:, probe_ids].tolist()],
            })
        fixture = {
            "name": name,
            "config": name + ".json",
            "seed": entry["seed"],
            "std": entry["std"],
            "dtype": "f32",
            "probe_ids": probe_ids,
            "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                         "device": args.device},
            "prompts": prompts,
        }
        out = os.path.join(args.out_dir, name + ".json")
        with open(out, "w") as f:
            json.dump(fixture, f, separators=(",", ":"))
            f.write("\n")
        spread = max(max(p["greedy_logprob"]) - min(p["greedy_logprob"]) for p in prompts)
        print(f"{name}: {sum(len(p['ids']) for p in prompts)} positions -> {out} "
              f"({os.path.getsize(out)} bytes; greedy logprob spread {spread:.3f})")


if __name__ == "__main__":
    main()
