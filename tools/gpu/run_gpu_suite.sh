#!/usr/bin/env bash
# Everything kiln checks and measures on the GPU machine, in one call of the device tool (one H200;
# see /work/.library/device/METHOD.md). Binaries are built on the development machine and brought
# as a bundle (../shared/tools/device-bundle): BUNDLE/run NAME runs one.
#
#   tools/gpu/run_gpu_suite.sh BUNDLE OUT [STAGES]
#
# STAGES (default all): tests golden bench tokenizer lab. Writes one log per stage to OUT and
# prints a summary. The 8B model (kiln synth of models/deepseek-r1-distill-llama-8b/config.json,
# 16 GB of bf16 random weights) is made once in /tmp/r1-8b.
set -uo pipefail
bundle=${1:?usage: run_gpu_suite.sh BUNDLE OUT [STAGES]}
out=${2:?usage: run_gpu_suite.sh BUNDLE OUT [STAGES]}
stages=${3:-"tests golden bench tokenizer lab"}
run="$bundle/run"
model=/tmp/r1-8b
export PYTHONUNBUFFERED=1
mkdir -p "$out"
has() { [[ " $stages " == *" $1 "* ]]; }
stamp() { echo "== $(date +%T) $*"; }

make_8b() {
  [ -f "$model/model.safetensors.index.json" ] && return 0
  stamp "synth 8B"
  "$run" kiln synth --config models/deepseek-r1-distill-llama-8b/config.json --out "$model" \
    --tokenizer "$bundle/tok" --seed 8 --dtype bf16 > "$out/synth_8b.log" 2>&1
}

if has tests; then
  stamp "CUDA tests"
  ("$run" kernels_cuda_tests; "$run" forward_cuda_tests) > "$out/cuda_tests.log" 2>&1
  grep -E "PASSED|FAILED|CUDA bf16 vs HF" "$out/cuda_tests.log"
fi

if has golden; then
  make_8b
  stamp "HF bf16 reference on the 8B shape"
  python3 tools/golden/make_large_bf16_reference.py --model-dir "$model" --out /tmp/r1-8b-ref.json \
    --fp32-baseline > "$out/large_ref.log" 2>&1
  tail -3 "$out/large_ref.log"
  KILN_LARGE_GOLDEN_MODEL=$model KILN_LARGE_GOLDEN_REFERENCE=/tmp/r1-8b-ref.json \
    "$run" forward_cuda_tests --gtest_filter='LargeGolden*' > "$out/large_golden.log" 2>&1
  grep -E "large golden|PASSED|FAILED" "$out/large_golden.log"
fi

if has bench; then
  make_8b
  for ctx in 128 1024 8192; do
    stamp "bench latency 8B, context $ctx"
    "$run" kiln bench latency --model "$model" --device cuda --input-len $ctx --output-len 128 \
      --num-iters 3 --json > "$out/latency_$ctx.json" 2> "$out/latency_$ctx.log"
    cat "$out/latency_$ctx.json"
  done
  stamp "bench latency 8B, context 1024, eager (no CUDA graphs) for comparison"
  "$run" kiln bench latency --model "$model" --device cuda --input-len 1024 --output-len 128 \
    --num-iters 3 --enforce-eager --json > "$out/latency_1024_eager.json" 2> "$out/latency_1024_eager.log"
  cat "$out/latency_1024_eager.json"
  stamp "bench latency 8B, context 32768 (one iteration)"
  timeout 200 "$run" kiln bench latency --model "$model" --device cuda --input-len 32768 --output-len 64 \
    --num-iters 1 --json > "$out/latency_32768.json" 2> "$out/latency_32768.log"
  cat "$out/latency_32768.json"
  stamp "memory plan with 24 GiB at 0.90"
  "$run" kiln bench latency --model "$model" --device cuda --gpu-memory-limit 24GiB \
    --gpu-memory-utilization 0.9 --max-model-len 8192 --input-len 128 --output-len 16 --num-iters 1 \
    > "$out/plan_24g.log" 2>&1
  grep -E "total GPU memory|Model weights:|Maximum concurrency" "$out/plan_24g.log"
  stamp "bench throughput 8B"
  timeout 240 "$run" kiln bench throughput --model "$model" --device cuda --num-prompts 256 \
    --input-len 1024 --output-len 128 --max-num-seqs 256 --max-num-batched-tokens 8192 --json \
    > "$out/throughput.json" 2> "$out/throughput.log"
  cat "$out/throughput.json"
  stamp "bench throughput 8B, the issue's shape: 1024 requests, 1024 in / 1024 out, 256 at a time"
  timeout 300 "$run" kiln bench throughput --model "$model" --device cuda --num-prompts 1024 \
    --input-len 1024 --output-len 1024 --max-num-seqs 256 --max-num-batched-tokens 8192 --json \
    > "$out/throughput_1024.json" 2> "$out/throughput_1024.log"
  cat "$out/throughput_1024.json"
fi

if has tokenizer; then
  stamp "tokenizer speed, kiln and HF on this CPU"
  KILN_TOKENIZER_JSON="$bundle/tok/tokenizer.json" "$run" tokenizer_bench --benchmark_min_time=2 \
    > "$out/tokenizer_bench.log" 2>&1
  grep -E "Encode|encode" "$out/tokenizer_bench.log" | head -6
fi

if has lab; then
  stamp "kernel lab"
  "$run" kernel_lab --quick > "$out/kernel_lab.log" 2>&1
  tail -12 "$out/kernel_lab.log"
fi
stamp done
