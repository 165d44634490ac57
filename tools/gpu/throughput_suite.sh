#!/usr/bin/env bash
# The throughput work's GPU checks and measurements (async scheduling, the FP8 KV cache, the
# mixed-step attention overlap, the graph memory reservation), in as few device calls as the
# 10-minute limit allows. One binary runs every variant, base included, so every comparison is
# inside one loan (the synchronous bf16 run is the baseline: what main ran before).
#
#   tools/gpu/throughput_suite.sh BUNDLE OUT STAGES
#
# STAGES, any of:
#   tests      kernels_cuda_tests, forward_cuda_tests (skipping the 8B goldens) and dist_cuda_tests
#   golden     the HF bf16 reference on the 8B shape, then kiln bf16 and kiln with the FP8 KV cache
#              against it (LargeGoldenTest)
#   latency    batch-1 decode at 1k and 32k, bf16 and FP8 cache (async scheduling, FP8 scales
#              calculated), and the 24 GiB plan lines of both
#   throughput 1024 requests x (1024 in / 1024 out) at 256 sequences: synchronous bf16 (base),
#              async bf16, async FP8 cache
#   overlap    async FP8 cache without and with the mixed-step attention overlap (the pair), and
#              bf16 with step profiles
#   checks     the KV cache `kiln generate` sizes for one request, and KILN_CUDA_PDL=0 against 1
#   structured token masks at batch (256 x 128/256, free against --output-regex; and 4 at batch 1) and `kiln serve`
#              answering guided_regex / guided_json / guided_choice completions, each answer
#              checked against its constraint
# NUM_PROMPTS overrides the 1024 requests of the throughput runs.
# The bundle (../shared/tools/device-bundle, binaries may be gzipped) holds kiln,
# kernels_cuda_tests, forward_cuda_tests and the tokenizer (tok/). The 8B model (kiln synth of
# models/deepseek-r1-distill-llama-8b/config.json) is made once in /tmp/r1-8b.
set -uo pipefail
bundle=${1:?usage: throughput_suite.sh BUNDLE OUT STAGES}
out=${2:?usage: throughput_suite.sh BUNDLE OUT STAGES}
stages=${3:?usage: throughput_suite.sh BUNDLE OUT STAGES}
run="$bundle/run"
model=/tmp/r1-8b
export PYTHONUNBUFFERED=1
mkdir -p "$out"
has() { [[ " $stages " == *" $1 "* ]]; }
stamp() { echo "== $(date -u +%T) $*"; }
for packed in "$bundle"/bin/*.gz "$bundle"/lib/*.gz; do
  [ -e "$packed" ] && gunzip -f "$packed"
done
chmod +x "$bundle"/bin/* 2>/dev/null
# The test binaries find their fixtures under the source and build folders they were compiled in
# (KILN_SOURCE_DIR, KILN_BINARY_DIR; the bundle's source_dir names it): point it at this checkout.
if [ -f "$bundle/source_dir" ]; then
  built=$(cat "$bundle/source_dir")
  if [ "$built" != "$PWD" ] && [ ! -e "$built" ]; then mkdir -p "$(dirname "$built")" && ln -s "$PWD" "$built"; fi
  mkdir -p build
fi

make_8b() {
  [ -f "$model/model.safetensors.index.json" ] && return 0
  stamp "synth 8B"
  "$run" kiln synth --config models/deepseek-r1-distill-llama-8b/config.json --out "$model" --tokenizer "$bundle/tok" --seed 8 --dtype bf16 \
    > "$out/synth_8b.log" 2>&1 || { echo "synth failed"; tail -3 "$out/synth_8b.log"; }
}

# One JSON line of `kiln bench` reduced to the fields compared.
summary() {
  [ -s "$1" ] || { tail -2 "${1%.json}.log"; return; }
  python3 -c 'import json,sys
d = json.load(open(sys.argv[1]))
def get(k):
    v = d.get(k)
    return v["mean"] if isinstance(v, dict) else v
keys = ("decode_tokens_per_s_per_seq", "roofline_fraction", "copy_gbps", "ttft_ms", "itl_ms", "output_tokens_per_s",
        "elapsed_s", "device_idle_fraction")
print(" ".join(f"{k}={get(k):.4g}" for k in keys if k in d and get(k) is not None))' "$1" 2>/dev/null || head -c 300 "$1"
}

if has tests; then
  stamp "CUDA tests"
  timeout 300 "$run" kernels_cuda_tests > "$out/kernels_cuda_tests.log" 2>&1
  grep -E "^\[  (PASSED|FAILED) |FAILED  \]" "$out/kernels_cuda_tests.log" | head -20
  timeout 300 "$run" forward_cuda_tests --gtest_filter='-LargeGolden*' > "$out/forward_cuda_tests.log" 2>&1
  grep -E "^\[  (PASSED|FAILED) |FAILED  \]|FP8 KV cache|blocks, CUDA graphs" "$out/forward_cuda_tests.log" | head -30
  if [ -e "$bundle/bin/dist_cuda_tests" ]; then
    timeout 200 "$run" dist_cuda_tests > "$out/dist_cuda_tests.log" 2>&1
    grep -E "^\[  (PASSED|FAILED) |FAILED  \]|SKIPPED" "$out/dist_cuda_tests.log" | head -20
  fi
fi

if has golden; then
  make_8b
  stamp "HF bf16 reference on the 8B shape"
  [ -f /tmp/r1-8b-ref.json ] || timeout 300 python3 tools/golden/make_large_bf16_reference.py --model-dir "$model" \
    --out /tmp/r1-8b-ref.json > "$out/large_ref.log" 2>&1
  tail -2 "$out/large_ref.log"
  stamp "kiln bf16 and FP8 KV cache against it"
  KILN_LARGE_GOLDEN_MODEL=$model KILN_LARGE_GOLDEN_REFERENCE=/tmp/r1-8b-ref.json timeout 240 \
    "$run" forward_cuda_tests --gtest_filter='LargeGolden*' > "$out/large_golden.log" 2>&1
  grep -E "large golden|PASSED|FAILED" "$out/large_golden.log"
fi

if has latency; then
  make_8b
  for kv in auto fp8; do
    stamp "24 GiB plan, KV cache $kv"
    timeout 120 "$run" kiln bench latency --model "$model" --device cuda --gpu-memory-limit 24GiB \
      --gpu-memory-utilization 0.9 --max-model-len 8192 --kv-cache-dtype "$kv" --input-len 128 --output-len 16 \
      --num-iters 1 > "$out/plan_24g_$kv.log" 2>&1
    grep -E "total GPU memory|Model weights:|KV cache size|Maximum concurrency" "$out/plan_24g_$kv.log"
  done
  for ctx in 1024 32768; do
    for kv in auto fp8; do
      name="latency_${ctx}_${kv}"
      iters=3
      [ "$ctx" -ge 32768 ] && iters=1
      scales=()
      [ "$kv" = fp8 ] && scales=(--calculate-kv-scales)
      timeout 200 "$run" kiln bench latency --model "$model" --device cuda --input-len "$ctx" --output-len 128 \
        --num-iters "$iters" --async-scheduling --kv-cache-dtype "$kv" "${scales[@]}" --json > "$out/$name.json" \
        2> "$out/$name.log"
      echo "$name: $(summary "$out/$name.json")"
    done
  done
fi

# name|environment|flags
variants=()
has throughput && variants+=(
  "sync_bf16||--no-async-scheduling"
  "async_bf16||--async-scheduling"
  "async_fp8||--async-scheduling --kv-cache-dtype fp8 --calculate-kv-scales"
)
# The pair logs every 300th step's operator breakdown (--profile-steps), both alike.
has overlap && variants+=(
  "async_fp8_pair||--async-scheduling --kv-cache-dtype fp8 --calculate-kv-scales --profile-steps 300"
  "async_fp8_overlap|KILN_CUDA_OVERLAP_ATTENTION=1|--async-scheduling --kv-cache-dtype fp8 --calculate-kv-scales --profile-steps 300"
  "async_bf16_profile||--async-scheduling --profile-steps 300"
)
if [ ${#variants[@]} -gt 0 ]; then
  make_8b
  for variant in "${variants[@]}"; do
    IFS='|' read -r name environment flags <<< "$variant"
    stamp "throughput $name"
    read -r -a flag_array <<< "$flags"
    env $environment timeout 200 "$run" kiln bench throughput --model "$model" --device cuda --num-prompts "${NUM_PROMPTS:-1024}" \
      --input-len 1024 --output-len 1024 --max-num-seqs 256 --max-num-batched-tokens 8192 --json "${flag_array[@]}" \
      > "$out/throughput_$name.json" 2> "$out/throughput_$name.log"
    echo "throughput_$name: $(summary "$out/throughput_$name.json")"
    grep -E "KV cache size|CUDA graphs" "$out/throughput_$name.log" | head -2
    grep -E "Step profile, [0-9]+ tokens of 256 sequences" "$out/throughput_$name.log" | head -2
  done
fi
if has checks; then
  make_8b
  stamp "generate sizes its KV cache for one request"
  timeout 120 "$run" kiln generate --model "$model" --prompt hi --max-tokens 100 --device cuda > "$out/generate.log" 2>&1
  grep -E "KV cache size" "$out/generate.log"
  for pdl in 0 1; do
    KILN_CUDA_PDL=$pdl timeout 120 "$run" kiln bench latency --model "$model" --device cuda --input-len 128 \
      --output-len 128 --num-iters 3 --json > "$out/latency_pdl$pdl.json" 2> "$out/latency_pdl$pdl.log"
    echo "latency_pdl$pdl: $(summary "$out/latency_pdl$pdl.json")"
  done
fi
if has structured; then
  make_8b
  # The grammar needs the tokenizer; the regex never has to end (outputs run --output-len tokens).
  cp "$bundle"/tok/{tokenizer.json,tokenizer_config.json,generation_config.json} "$model/" 2>/dev/null
  # name|sequences at a time|regex: 256 x 128/256 at 256 sequences, and 4 one at a time (batch 1)
  for variant in "free|256|" "regex|256|([a-z]{1,8} [0-9]{1,4}, )+" "batch1_free|1|" "batch1_regex|1|([a-z]{1,8} [0-9]{1,4}, )+"; do
    IFS='|' read -r name seqs regex <<< "$variant"
    stamp "throughput with token masks: $name"
    extra=()
    [ -n "$regex" ] && extra=(--output-regex "$regex")
    prompts=256
    [ "$seqs" = 1 ] && prompts=4
    timeout 150 "$run" kiln bench throughput --model "$model" --device cuda --num-prompts $prompts --input-len 128 \
      --output-len 256 --max-num-seqs "$seqs" --json "${extra[@]}" > "$out/structured_$name.json" 2> "$out/structured_$name.log"
    echo "structured_$name: $(summary "$out/structured_$name.json")"
    grep -E "grammar|compile" "$out/structured_$name.log" | head -2
  done
  stamp "kiln serve with guided completions"
  "$run" kiln serve "$model" --served-model-name m --max-model-len 4096 --port 8011 \
    > "$out/structured_serve.log" 2>&1 &
  server=$!
  for _ in $(seq 1 240); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:8011/health)" = 200 ] && break
    kill -0 $server 2>/dev/null || break
    sleep 0.5
  done
  python3 - <<'PY' 2>&1 | tee "$out/structured_serve_checks.log"
import json, re, urllib.request, concurrent.futures
def post(body):
    req = urllib.request.Request("http://127.0.0.1:8011/v1/completions", json.dumps(body).encode(),
                                 {"Content-Type": "application/json"})
    try:
        return json.load(urllib.request.urlopen(req, timeout=120))
    except urllib.error.HTTPError as e:
        return {"error": e.read().decode()[:300]}
schema = {"type": "object", "properties": {"name": {"type": "string", "maxLength": 12},
          "age": {"type": "integer", "minimum": 0, "maximum": 150}}, "required": ["name", "age"],
          "additionalProperties": False}
cases = [("regex", {"guided_regex": "[A-Z][a-z]{2,9} [0-9]{1,3}"}, lambda t: re.fullmatch(r"[A-Z][a-z]{2,9} [0-9]{1,3}", t)),
         ("choice", {"guided_choice": ["yes", "no", "maybe"]}, lambda t: t in ("yes", "no", "maybe")),
         ("json", {"guided_json": schema, "max_tokens": 200}, lambda t: set(json.loads(t)) == {"name", "age"})]
def one(i):
    kind, fields, check = cases[i % 3]
    body = {"model": "m", "prompt": f"request {i}:", "max_tokens": 60, "temperature": 0.8, "seed": i, **fields}
    answer = post(body)
    if "error" in answer:
        return kind, False, answer["error"]
    text = answer["choices"][0]["text"]
    try:
        ok = bool(check(text))
    except Exception as e:
        ok = False
    return kind, ok, text[:80]
with concurrent.futures.ThreadPoolExecutor(24) as pool:
    results = list(pool.map(one, range(48)))
for kind in ("regex", "choice", "json"):
    mine = [r for r in results if r[0] == kind]
    print(f"{kind}: {sum(ok for _, ok, _ in mine)}/{len(mine)} follow their constraint; e.g. {mine[0][2]!r}")
    for _, ok, text in mine:
        if not ok:
            print(f"  FAILED: {text!r}")
PY
  kill -TERM $server 2>/dev/null; wait $server 2>/dev/null
  grep -E "Traceback|terminate|Segmentation|CUDA error" "$out/structured_serve.log" | head -3
fi
stamp done
