#!/usr/bin/env bash
# End-to-end tests of `kiln serve` on the demo model (random weights, the real DeepSeek tokenizer
# and chat template, CPU backend): the official openai SDK, raw SSE, reasoning split, logprobs,
# disconnect, 200 concurrent streams, a table of bad requests, a real Prometheus, SIGTERM drain,
# structured outputs and tool calls (zod schemas, multi-turn calls, streamed tool_calls deltas).
# Each test file starts its own servers on free 127.0.0.1 ports.
set -euo pipefail
cd "$(dirname "$0")"
root=$(cd ../.. && pwd)
build=$(cd "$root" && realpath "${KILN_BUILD_DIR:-build}")
if [ ! -x "$build/kiln" ]; then
  echo "tests/e2e: $build/kiln is missing: build first (make build)" >&2
  exit 1
fi
if [ ! -d node_modules/openai ] || [ ! -d node_modules/zod ]; then
  echo "tests/e2e: node_modules/openai or node_modules/zod is missing: run scripts/install-deps.sh" >&2
  exit 1
fi
"$root/scripts/make-demo-model.sh" "$build"
start=$(date +%s)
KILN_BUILD_DIR="$build" node --test --test-concurrency=1 \
  openai_sdk.test.mjs streaming.test.mjs errors.test.mjs lifecycle.test.mjs \
  engine_failures.test.mjs serve_flags.test.mjs hostile.test.mjs tracing.test.mjs kv_cache_dtype.test.mjs \
  structured_outputs.test.mjs speculative.test.mjs
echo "tests/e2e: passed in $(( $(date +%s) - start )) s"
