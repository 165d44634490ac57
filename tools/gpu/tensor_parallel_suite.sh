#!/usr/bin/env bash
# Tensor parallelism on the GPU machine (issue 20). Binaries come as a bundle
# (../shared/tools/device-bundle: kiln, forward_cuda_tests, kernels_cuda_tests, dist_cuda_tests).
#
#   tools/gpu/tensor_parallel_suite.sh BUNDLE OUT [STAGES]
#
# STAGES (default: onegpu):
#   onegpu  one GPU: the embedding_shard kernel against its CPU twin, the custom all-reduce with
#           ranks simulated on one GPU, and the CUDA tensor-parallel model with every rank on
#           GPU 0 (host-staged collectives, eager steps): TP=2/4 against TP=1 and HF's golden
#           logprobs, FP8 per-channel weights (weight-only) against TP=1, the engine's async
#           steps against its synchronous ones and TP=1's tokens (~2 min).
#   parity  2+ GPUs: NCCL and the custom all-reduce across GPUs, the golden and engine tests with
#           one GPU per rank (graphs capturing the collectives), and the 8B shape (kiln synth,
#           seed 8) at TP=2/4/8 against TP=1: top-1 agreement >= 99.5% on clear positions.
#   bench   2+ GPUs: kiln bench latency (batch 1 and 32, 1024 in / 128 out) and throughput
#           (256 x 1024/128) of the 8B at TP=1/2/4, then one --profile-steps run per size for the
#           all-reduce's share of a decode step. Goal: TP=2 batch 1 >= 1.6x TP=1. TP_SIZES
#           (default "1 2 4") picks the sizes, to split the stage over two device calls.
#   70b     8 GPUs and ~150 GB of disk: kiln synth of the 70B config (seed 8, /tmp/r1-70b) and
#           its logits at TP=8 against TP=4 (top-1 agreement >= 99.5% on clear positions).
#   70bbench  4+ GPUs, after 70b (same machine): latency at TP=4 and 8, batch 1 (goal at TP=4 on
#           H100s: roofline_fraction >= 0.8, the ranks' aggregate bandwidth) and throughput at TP=8.
# Each stage fits one 10-minute device call; run them as separate calls on one warm machine.
# Every size above 1 runs with KILN_CUDA_TENSOR_PARALLEL=1 (the switch that gates it).
set -uo pipefail
bundle=${1:?usage: tensor_parallel_suite.sh BUNDLE OUT [STAGES]}
out=${2:?usage: tensor_parallel_suite.sh BUNDLE OUT [STAGES]}
stages=${3:-onegpu}
run="$bundle/run"
export PYTHONUNBUFFERED=1 KILN_CUDA_TENSOR_PARALLEL=1
mkdir -p "$out"
has() { [[ " $stages " == *" $1 "* ]]; }
stamp() { echo "== $(date +%T) $*"; }
gpus=$(nvidia-smi -L | wc -l)

synth() {  # CONFIG DIR
  [ -f "$2/model.safetensors.index.json" ] && return 0
  stamp "synth $1"
  "$run" kiln synth --config "$1" --out "$2" --tokenizer "$bundle/tok" --seed 8 --dtype bf16 \
    > "$out/synth_$(basename "$2").log" 2>&1
}

if has onegpu; then
  stamp "one GPU: embedding_shard, simulated custom all-reduce, simulated tensor-parallel model"
  ("$run" kernels_cuda_tests --gtest_filter='EmbeddingShardParity.*'
   "$run" dist_cuda_tests --gtest_filter='*CustomAllReduceParity*'
   "$run" forward_cuda_tests --gtest_filter='*_simulated:*SimulatedOnOneGpu') > "$out/tp_onegpu.log" 2>&1
  grep -E "PASSED|FAILED|simulated" "$out/tp_onegpu.log"
fi

if has parity; then
  [ "$gpus" -ge 2 ] || { echo "parity needs 2 GPUs ($gpus)"; exit 1; }
  synth models/deepseek-r1-distill-llama-8b/config.json /tmp/r1-8b
  stamp "tensor parallel across $gpus GPUs"
  ("$run" dist_cuda_tests
   "$run" forward_cuda_tests --gtest_filter='Models/CudaTensorParallelGoldenTest.*:Ranks/CudaTensorParallelEngineTest.*:Formats/CudaTensorParallelFp8Test.*'
   KILN_LARGE_GOLDEN_MODEL=/tmp/r1-8b "$run" forward_cuda_tests --gtest_filter='LargeTensorParallel.*') \
    > "$out/tp_parity.log" 2>&1
  grep -E "PASSED|FAILED|TP=[0-9]" "$out/tp_parity.log"
fi

if has bench; then
  [ "$gpus" -ge 2 ] || { echo "bench needs 2 GPUs ($gpus)"; exit 1; }
  synth models/deepseek-r1-distill-llama-8b/config.json /tmp/r1-8b
  for tp in ${TP_SIZES:-1 2 4}; do
    [ "$tp" -le "$gpus" ] || continue
    for batch in 1 32; do
      stamp "8B latency TP=$tp batch $batch"
      "$run" kiln bench latency --model /tmp/r1-8b --device cuda --tensor-parallel-size $tp --batch-size $batch \
        --input-len 1024 --output-len 128 --num-iters 3 --json > "$out/tp${tp}_latency_b$batch.json" \
        2> "$out/tp${tp}_latency_b$batch.log"
      cat "$out/tp${tp}_latency_b$batch.json"
    done
    stamp "8B latency TP=$tp batch 1, operator profile every 32nd step"
    "$run" kiln bench latency --model /tmp/r1-8b --device cuda --tensor-parallel-size $tp --batch-size 1 \
      --input-len 1024 --output-len 128 --num-iters 1 --profile-steps 32 > "$out/tp${tp}_profile.log" 2>&1
    grep -E "Step profile" "$out/tp${tp}_profile.log" | tail -8
    stamp "8B throughput TP=$tp"
    timeout 300 "$run" kiln bench throughput --model /tmp/r1-8b --device cuda --tensor-parallel-size $tp \
      --num-prompts 256 --input-len 1024 --output-len 128 --max-num-seqs 256 --max-num-batched-tokens 8192 --json \
      > "$out/tp${tp}_throughput.json" 2> "$out/tp${tp}_throughput.log"
    cat "$out/tp${tp}_throughput.json"
  done
fi

if has 70b; then
  [ "$gpus" -ge 8 ] || { echo "70b needs 8 GPUs ($gpus)"; exit 1; }
  synth models/deepseek-r1-distill-llama-70b/config.json /tmp/r1-70b
  stamp "70B logits at TP=8 against TP=4"
  KILN_LARGE_TP_MODEL=/tmp/r1-70b "$run" forward_cuda_tests --gtest_filter='LargeTensorParallel.SeventyBillion*' \
    > "$out/70b_parity.log" 2>&1
  grep -E "PASSED|FAILED|large TP" "$out/70b_parity.log"
fi

if has 70bbench; then
  [ "$gpus" -ge 4 ] || { echo "70bbench needs 4 GPUs ($gpus)"; exit 1; }
  synth models/deepseek-r1-distill-llama-70b/config.json /tmp/r1-70b
  for tp in 4 8; do
    [ "$tp" -le "$gpus" ] || continue
    stamp "70B latency TP=$tp batch 1"
    "$run" kiln bench latency --model /tmp/r1-70b --device cuda --tensor-parallel-size $tp --batch-size 1 \
      --input-len 1024 --output-len 128 --num-iters 3 --max-model-len 8192 --json \
      > "$out/70b_tp${tp}_latency.json" 2> "$out/70b_tp${tp}_latency.log"
    cat "$out/70b_tp${tp}_latency.json"
    grep -E "Rank [0-9]|KV cache" "$out/70b_tp${tp}_latency.log" | head -10
  done
  if [ "$gpus" -ge 8 ]; then
    stamp "70B throughput TP=8"
    timeout 400 "$run" kiln bench throughput --model /tmp/r1-70b --device cuda --tensor-parallel-size 8 \
      --num-prompts 256 --input-len 1024 --output-len 128 --max-num-seqs 256 --max-model-len 8192 --json \
      > "$out/70b_tp8_throughput.json" 2> "$out/70b_tp8_throughput.log"
    cat "$out/70b_tp8_throughput.json"
  fi
fi
