#!/usr/bin/env python3
"""HF transformers bf16 reference for a full-size model (the 8B shape with kiln synth weights).

Runs on the GPU machine. Loads MODEL_DIR with transformers in bfloat16 on CUDA (sdpa attention),
feeds NUM_PROMPTS prompts of PROMPT_LEN random token ids (fixed seed, ids below 128000 so no
special tokens), and writes OUT (JSON) with, per prompt, the ids and for every position HF's
top-1 next token, its log-probability and the runner-up's (log_softmax of the bf16 logits in
float32), so that near-ties can be told apart from disagreements.

tests/unit/model/cuda/large_golden_test.cc reads it (KILN_LARGE_GOLDEN_MODEL=MODEL_DIR,
KILN_LARGE_GOLDEN_REFERENCE=OUT) and checks kiln's CUDA model agrees on >= 99% of positions.

    python3 tools/golden/make_large_bf16_reference.py --model-dir /tmp/r1-8b --out /tmp/r1-8b-ref.json

With --fp32-baseline it also runs HF in float32 (32 GB on the GPU) and prints how often HF bf16's
top-1 matches HF fp32's: random weights leave many positions near-ties, and this is the agreement
a second, equally valid bf16 implementation can expect; the test reports kiln against both.
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
    parser.add_argument("--fp32-baseline", action="store_true",
                        help="also run HF in float32 and report how often HF bf16 agrees with it: the "
                             "agreement any bf16 implementation can expect with HF bf16 on these weights")
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
    if args.fp32_baseline:
        del model
        torch.cuda.empty_cache()
        model = transformers.AutoModelForCausalLM.from_pretrained(
            args.model_dir, dtype=torch.float32, attn_implementation="sdpa").to("cuda").eval()
        agree = clear = clear_agree = 0
        total = 0
        with torch.no_grad():
            for prompt in prompts:
                ids = torch.tensor(prompt["ids"])
                top1 = torch.argmax(model(ids[None].to("cuda")).logits[0].float(), dim=-1).tolist()
                prompt["fp32_top1"] = top1
                for p, token in enumerate(top1):
                    same = token == prompt["top1"][p]
                    agree += same
                    total += 1
                    if prompt["top1_logprob"][p] - prompt["top2_logprob"][p] > 0.1:
                        clear += 1
                        clear_agree += same
        print(f"HF bf16 vs HF fp32: top-1 agreement {agree / total:.4f} overall, "
              f"{clear_agree / max(clear, 1):.4f} over the {clear} positions with bf16 margin > 0.1", flush=True)
    with open(args.out, "w") as f:
        json.dump({"model_dir": args.model_dir, "dtype": "bf16", "transformers": transformers.__version__,
                   "torch": torch.__version__, "prompts": prompts}, f)
    print(f"wrote {args.out}: {args.num_prompts} prompts x {args.prompt_len} positions", flush=True)


if __name__ == "__main__":
    main()
