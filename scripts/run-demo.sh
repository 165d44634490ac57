#!/usr/bin/env bash
# `make run`: serves the demo model (random weights, the real DeepSeek-R1-Distill tokenizer and chat
# template) as deepseek-ai/DeepSeek-R1-Distill-Llama-8B on port 8000 with the CPU backend, after
# printing the URL and the EKS guide's test request. Extra arguments go to `kiln serve`
# (e.g. --reasoning-parser none to keep <think> inline as the guide's deployment does).
# usage: scripts/run-demo.sh BUILD_DIR [kiln serve flags...]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build=${1:?usage: scripts/run-demo.sh BUILD_DIR [kiln serve flags...]}
shift
port=${KILN_PORT:-8000}
if [ ! -x "$build/kiln" ]; then
  echo "run-demo: $build/kiln is missing: build first (make build)" >&2
  exit 1
fi
"$root/scripts/make-demo-model.sh" "$build"

cat <<MSG
kiln demo: an R1-shaped tiny model with random weights (its answers are gibberish), on the CPU.
  API:       http://localhost:$port/v1
  Chat UI:   http://localhost:$port/
  Metrics:   http://localhost:$port/metrics
Try the guide's request (max_tokens 64 so that it returns fast on a CPU):

curl -X POST http://localhost:$port/v1/chat/completions -H "Content-Type: application/json" -d '{
    "model": "deepseek-ai/DeepSeek-R1-Distill-Llama-8B",
    "messages": [{"role": "user", "content": "Explain about DeepSeek model?"}],
    "max_tokens": 64,
    "stream": false
}'

MSG
exec "$build/kiln" serve "$build/models/demo" --port "$port" \
  --served-model-name deepseek-ai/DeepSeek-R1-Distill-Llama-8B --max-model-len 8192 \
  --kv-cache-memory 512MiB --device cpu "$@"
