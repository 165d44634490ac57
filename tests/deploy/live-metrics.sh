#!/usr/bin/env bash
# Starts `kiln serve` on MODEL at a free loopback port, waits for /health, sends one chat request
# so that every histogram has samples, saves /metrics to OUT, and stops the server (SIGTERM).
#   tests/deploy/live-metrics.sh build/kiln models/demo /tmp/metrics.prom
set -euo pipefail
kiln=$1 model=$2 out=$3
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
log=$(mktemp)
"$kiln" serve "$model" --host 127.0.0.1 --port "$port" --served-model-name kiln-deploy-test \
  --max-model-len 512 --drain-timeout 5 --device cpu --kv-cache-memory 64MiB >"$log" 2>&1 &
pid=$!
cleanup() { kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -f "$log"; }
trap cleanup EXIT
for _ in $(seq 1 600); do
  if curl -fsS -o /dev/null "http://127.0.0.1:$port/health"; then break; fi
  kill -0 "$pid" 2>/dev/null || { echo "live-metrics: kiln serve exited:" >&2; cat "$log" >&2; exit 1; }
  sleep 0.2
done
curl -fsS -o /dev/null "http://127.0.0.1:$port/health" || { echo "live-metrics: /health never turned 200" >&2; cat "$log" >&2; exit 1; }
curl -fsS -o /dev/null "http://127.0.0.1:$port/v1/chat/completions" -H 'Content-Type: application/json' \
  -d '{"model":"kiln-deploy-test","messages":[{"role":"user","content":"hi"}],"max_tokens":4}'
curl -fsS "http://127.0.0.1:$port/metrics" >"$out"
echo "live-metrics: $(grep -c '^vllm:' "$out") vllm samples from kiln serve on port $port"
