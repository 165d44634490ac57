#!/usr/bin/env bash
# The GPU runs that the second session of 2026-12-07 built and bundled but could not make (the
# device refused five starts and the time ran out), most important first, in one ~5 minute call:
# decode attention on the tensor cores (issue 14: parity, then throughput with the FP8 cache
# against the CUDA-core kernel), speculative decoding at batch 1 (issue 18: oracle k=4 at
# acceptance 1.0 and 0.7, ngram), token masks at batch and at batch 1 (issue 17, masks now
# written in parallel), the FP8 model tests with their new bounds, FP8 weights with the FP8 KV
# cache (issue 16), and the 8B weight-only golden against a W8A16 reference.
#
#   tools/gpu/pending_checks.sh OUT_DIR     (run from the checkout; the bundle in .bundle holds
#                                            kiln, kernels_cuda_tests, forward_cuda_tests, tok/)
# The device returns at most 8 files: write OUT_DIR outside $OUT and tar it there.
set -uo pipefail
b=.bundle; run=$b/run; out=${1:?usage: pending_checks.sh OUT_DIR}; mkdir -p "$out"
stamp() { echo "== $(date -u +%T) $*"; }
stamp "decode attention on the tensor cores: parity"
timeout 90 $run kernels_cuda_tests --gtest_filter='*DecodeAttentionMma*' > $out/mma_tests.log 2>&1
grep -E "^\[  (PASSED|FAILED) |FAILED  \]" $out/mma_tests.log | head -20
stamp "speculative decoding over the CUDA executor: exactness"
timeout 120 $run forward_cuda_tests --gtest_filter='CudaEngineSpeculativeTest.*' > $out/spec_tests.log 2>&1
grep -E "^\[  (PASSED|FAILED) |FAILED  \]" $out/spec_tests.log | head -10
stamp "synth"
$run kiln synth --config models/deepseek-r1-distill-llama-8b/config.json --out /tmp/r1-8b --tokenizer $b/tok --seed 8 --dtype bf16 > $out/synth.log 2>&1
thr() {  # NAME MODEL ENV FLAGS...
  local n=$1 m=$2 e=$3; shift 3
  stamp "throughput 256 x 1024/1024 at 256 sequences: $n"
  env $e timeout 100 $run kiln bench throughput --model $m --device cuda --num-prompts 256 --input-len 1024 --output-len 1024 --max-num-seqs 256 --max-num-batched-tokens 8192 --json "$@" > $out/thr_$n.json 2> $out/thr_$n.log
  echo "thr_$n $(cat $out/thr_$n.json)"
}
fp8kv=(--kv-cache-dtype fp8 --calculate-kv-scales)
thr fp8kv_cuda_cores /tmp/r1-8b KILN_CUDA_DECODE_ATTENTION_MMA=0 "${fp8kv[@]}"
thr fp8kv_mma /tmp/r1-8b KILN_CUDA_DECODE_ATTENTION_MMA=1 "${fp8kv[@]}"
for v in "oracle_k4_a1.0|{\"method\": \"oracle\", \"num_speculative_tokens\": 4}" "oracle_k4_a0.7|{\"method\": \"oracle\", \"num_speculative_tokens\": 4, \"oracle_acceptance_rate\": 0.7}" "ngram_k4_t1|{\"method\": \"ngram\", \"num_speculative_tokens\": 4}"; do
  n=${v%%|*}; cfg=${v#*|}
  stamp "speculative decoding, batch 1, 1k context: $n"
  # ngram at temperature 1: the random model does not loop, so lookups find nothing (the goal's
  # "no matches" case); the oracles decode greedily.
  temperature=(); [[ $n == ngram* ]] && temperature=(--temperature 1.0)
  timeout 60 $run kiln bench latency --model /tmp/r1-8b --device cuda --input-len 1024 --output-len 128 --num-iters 2 --speculative-config "$cfg" "${temperature[@]}" --json > $out/spec_$n.json 2> $out/spec_$n.log
  echo "spec_$n $(cat $out/spec_$n.json)"
done
stamp "token masks"
cp $b/tok/{tokenizer.json,tokenizer_config.json,generation_config.json} /tmp/r1-8b/
for v in "free|256|" "regex|256|([a-z]{1,8} [0-9]{1,4}, )+" "batch1_free|1|" "batch1_regex|1|([a-z]{1,8} [0-9]{1,4}, )+"; do
  IFS='|' read -r n seqs regex <<< "$v"
  x=(); [ -n "$regex" ] && x=(--output-regex "$regex")
  p=256; [ "$seqs" = 1 ] && p=4
  timeout 60 $run kiln bench throughput --model /tmp/r1-8b --device cuda --num-prompts $p --input-len 128 --output-len 256 --max-num-seqs $seqs --json "${x[@]}" > $out/masks_$n.json 2> $out/masks_$n.log
  echo "masks_$n $(cat $out/masks_$n.json)"
done
$run kiln synth --config models/deepseek-r1-distill-llama-8b/config.json --out /tmp/r1-8b-fp8 --tokenizer $b/tok --seed 8 --dtype bf16 --quantization fp8-dynamic > $out/synth_fp8.log 2>&1
stamp "CUDA FP8 model tests"
timeout 90 $run forward_cuda_tests --gtest_filter='Formats/Fp8CudaModel.*:CudaFp8KvTest.*' > $out/fp8_model_tests.log 2>&1
grep -E "^\[  (PASSED|FAILED) |FAILED  \]|W8A" $out/fp8_model_tests.log | head -30
thr fp8w_fp8kv /tmp/r1-8b-fp8 KILN_CUDA_DECODE_ATTENTION_MMA=0 "${fp8kv[@]}"
lat() {  # NAME MODEL CTX FLAGS...
  local n=$1 m=$2 c=$3; shift 3
  timeout 60 $run kiln bench latency --model $m --device cuda --input-len $c --output-len 128 --num-iters 3 --json "$@" > $out/lat_$n.json 2> $out/lat_$n.log
  echo "lat_$n $(cat $out/lat_$n.json)"; grep -h "Loading model weights took" $out/lat_$n.log | tail -1
}
stamp "batch-1 latency, bf16 against FP8 weights with the FP8 KV cache"
for c in 128; do
  lat bf16_$c /tmp/r1-8b $c
  lat fp8_$c /tmp/r1-8b-fp8 $c "${fp8kv[@]}"
done
stamp "W8A16 reference and the weight-only golden"
timeout 90 python3 tools/golden/make_fp8_reference.py --model-dir /tmp/r1-8b-fp8 --weight-only --out /tmp/w8a16-ref.json > $out/ref_w8a16.log 2>&1
tail -1 $out/ref_w8a16.log
KILN_LARGE_GOLDEN_MODEL=/tmp/r1-8b-fp8 KILN_LARGE_GOLDEN_REFERENCE=/tmp/w8a16-ref.json KILN_LARGE_GOLDEN_LABEL=weight-only-vs-w8a16-reference KILN_LARGE_GOLDEN_FP8_WEIGHT_ONLY=1 \
  timeout 60 $run forward_cuda_tests --gtest_filter='LargeGoldenTest.AgreesWithHfBf16OnTopTokens' > $out/golden_w8a16.log 2>&1
grep -E "large golden|PASSED|FAILED" $out/golden_w8a16.log
stamp "speculative draft trees on the CUDA backend (issue 18, KILN_CUDA_SPEC_TREES): kernels against their CPU twins, engine exactness"
timeout 90 $run kernels_cuda_tests --gtest_filter='PrefillAttention.*:MoveKvParity.*' > $out/tree_kernels.log 2>&1
grep -E "^\[  (PASSED|FAILED) |FAILED  \]" $out/tree_kernels.log | head -20
timeout 150 $run forward_cuda_tests --gtest_filter='CudaEngineSpeculativeTest.*' > $out/tree_engine.log 2>&1
grep -E "^\[  (PASSED|FAILED) |FAILED  \]" $out/tree_engine.log | head -10
for v in "oracle_chain_k6_a0.7|{\"method\": \"oracle\", \"num_speculative_tokens\": 6, \"oracle_acceptance_rate\": 0.7}" "oracle_tree_k6_top2_a0.7|{\"method\": \"oracle\", \"num_speculative_tokens\": 6, \"draft_tree_topk\": 2, \"oracle_acceptance_rate\": 0.7}"; do
  n=${v%%|*}; cfg=${v#*|}
  stamp "speculative decoding, batch 1, 1k context, KILN_CUDA_SPEC_TREES=1: $n"
  KILN_CUDA_SPEC_TREES=1 timeout 60 $run kiln bench latency --model /tmp/r1-8b --device cuda --input-len 1024 --output-len 128 --num-iters 2 --speculative-config "$cfg" --json > $out/spec_$n.json 2> $out/spec_$n.log
  echo "spec_$n $(cat $out/spec_$n.json)"
done
stamp "the GPU tests whose shared setup moved to tests/unit/model/cuda/cuda_test_setup.h (same models, seeds and bounds)"
timeout 240 $run forward_cuda_tests --gtest_filter='CudaEngineTest.*:CudaEngineGrammarTest.*:CudaSamplingTest.*:Shapes/CudaModelTest.*:Ranks/CudaTensorParallelEngineTest.*' > $out/shared_setup_tests.log 2>&1
grep -E "^\[  (PASSED|FAILED) |FAILED  \]" $out/shared_setup_tests.log | head -20
stamp done
