#!/usr/bin/env python3
"""HF transformers bf16 reference for a full-size model (the 8B shape with kiln synth weights).

Runs on the GPU machine. Loads MODEL_DIR with transformers in bfloat16 on CUDA (sdpa attention),
feeds NUM_PROMPTS prompts of PROMPT_LEN random token ids (fixed seed, ids below 128000 so no
special tokens), and writes OUT (JSON) with, per prompt, the ids and for every position HF's
top-1 next token, its log-probability and the runner-up's (log_softmax of the bf16 logits in
float32), so that near-ties can be told apart from disagreements.

tests/unit/forward_cuda/large_golden_test.cc reads it (KILN_LARGE_GOLDEN_MODEL=MODEL_DIR,
KILN_LARGE_GOLDEN_REFERENCE=OUT) and checks kiln's CUDA model agrees on >= 99% of positions.

    python3 tools/golden/make_large_bf16_reference.py --model-dir /tmp/r1-8b --out /tmp/r1-8b-ref.json
"""
import argparse
import json
import time

import torch
import transformers


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model-dir", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--num-prompts", type=int, default=4)
    parser.add_argument("--prompt-len", type=int, default=256)
    parser.add_argument("--seed", type=int, default=1234)
    args = parser.parse_args()

    start = time.time()
    model = transformers.AutoModelForCausalLM.from_pretrained(
        args.model_dir, dtype=torch.bfloat16, attn_implementation="sdpa").to("cuda").eval()
    print(f"loaded in {time.time() - start:.1f} s", flush=True)
    generator = torch.Generator().manual_seed(args.seed)
    prompts = []
    with torch.no_grad():
        for _ in range(args.num_prompts):
            ids = torch.randint(0, 128000, (args.prompt_len,), generator=generator)
            logits = model(ids[None].to("cuda")).logits[0].float()
            logprobs = torch.log_softmax(logits, dim=-1)
            top2 = torch.topk(logprobs, 2, dim=-1)
            prompts.append({
                "ids": ids.tolist(),
                "top1": top2.indices[:, 0].tolist(),
                "top1_logprob": top2.values[:, 0].tolist(),
                "top2_logprob": top2.values[:, 1].tolist(),
            })
    with open(args.out, "w") as f:
        json.dump({"model_dir": args.model_dir, "dtype": "bf16", "transformers": transformers.__version__,
                   "torch": torch.__version__, "prompts": prompts}, f)
    print(f"wrote {args.out}: {args.num_prompts} prompts x {args.prompt_len} positions", flush=True)


if __name__ == "__main__":
    main()
