#!/usr/bin/env bash
# `kiln serve` with the 8B shape on the GPU machine, driven as the EKS guide's users drive vLLM:
# the guide's chat request, a streamed one, 64 concurrent requests, /metrics, then SIGTERM.
#
#   tools/gpu/serve_8b_smoke.sh BUNDLE MODEL_DIR OUT
#
# MODEL_DIR is a `kiln synth` of models/deepseek-r1-distill-llama-8b/config.json; the real
# tokenizer and generation config are copied in from BUNDLE/tok (the build's
# models/deepseek-tokenizer, which equals ../shared/models/deepseek-r1-distill-llama-8b's).
set -uo pipefail
bundle=${1:?usage: serve_8b_smoke.sh BUNDLE MODEL_DIR OUT}
model=${2:?usage: serve_8b_smoke.sh BUNDLE MODEL_DIR OUT}
out=${3:?usage: serve_8b_smoke.sh BUNDLE MODEL_DIR OUT}
mkdir -p "$out"
cp "$bundle"/tok/{tokenizer.json,tokenizer_config.json,generation_config.json} "$model/" || exit 1
name=deepseek-ai/DeepSeek-R1-Distill-Llama-8B
url=http://127.0.0.1:8000
"$bundle/run" kiln serve "$model" --served-model-name "$name" --max-model-len 8192 --port 8000 \
  > "$out/serve.log" 2>&1 &
server=$!
for _ in $(seq 1 240); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' $url/health)" = 200 ] && break
  kill -0 $server 2>/dev/null || { echo "kiln serve exited:"; tail -5 "$out/serve.log"; exit 1; }
  sleep 0.5
done
echo "== startup log"
grep -E "CUDA device|Model weights|KV cache size|Maximum concurrency|Uvicorn|listening|Started" "$out/serve.log" | cut -c1-200
echo "== the guide's request"
curl -s -X POST $url/v1/chat/completions -H "Content-Type: application/json" -d "{
    \"model\": \"$name\",
    \"messages\": [{\"role\": \"user\", \"content\": \"Explain about DeepSeek model?\"}],
    \"max_tokens\": 1024, \"stream\": false}" > "$out/chat.json"
python3 -c "import json,sys; r=json.load(open('$out/chat.json')); print(r['object'], r['model'], r['choices'][0]['finish_reason'], r['usage'])"
echo "== streamed"
curl -sN -X POST $url/v1/chat/completions -H "Content-Type: application/json" -d "{
    \"model\": \"$name\", \"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}],
    \"max_tokens\": 32, \"stream\": true, \"stream_options\": {\"include_usage\": true}}" > "$out/stream.txt"
echo "$(grep -c '^data: ' "$out/stream.txt") SSE events, last: $(tail -2 "$out/stream.txt" | head -1)"
echo "== 64 concurrent requests of 256 tokens"
start=$(date +%s.%N)
clients=()
for i in $(seq 1 64); do
  curl -s -X POST $url/v1/completions -H "Content-Type: application/json" -d "{
    \"model\": \"$name\", \"prompt\": \"Request $i: tell me a story\", \"max_tokens\": 256,
    \"ignore_eos\": true}" -o "$out/c$i.json" &
  clients+=($!)
done
wait "${clients[@]}"
end=$(date +%s.%N)
python3 - "$out" "$start" "$end" <<'PY'
import json, sys, glob
out, start, end = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
tokens = [json.load(open(f))["usage"]["completion_tokens"] for f in glob.glob(out + "/c[0-9]*.json")]
print(f"{len(tokens)} responses, {sum(tokens)} tokens in {end - start:.2f} s = {sum(tokens) / (end - start):.0f} tok/s")
PY
echo "== /metrics"
curl -s $url/metrics | grep -E "^vllm:(num_requests_running|kv_cache_usage_perc|generation_tokens_total|request_success_total|time_to_first_token_seconds_count)" | head -8
kill -TERM $server
wait $server
echo "== exit status after SIGTERM: $?"
tail -3 "$out/serve.log" | cut -c1-200
