#!/usr/bin/env bash
# A change that needs the GPU to be judged, in one call of the device tool: the candidate's CUDA
# tests, then `kiln bench` of the candidate against a base build on the same machine, alternating
# base and candidate so that drift between loans (~3%) does not pass for a gain.
#
#   tools/gpu/ab_candidate.sh BUNDLE OUT [STAGES]
#
# BUNDLE (../shared/tools/device-bundle) holds bin/kiln (the candidate), bin/kiln-base (the build
# to compare against, e.g. main; copy it in after device-bundle), and the candidate's
# kernels_cuda_tests and forward_cuda_tests. STAGES (default "tests latency throughput"):
#   tests       kernels_cuda_tests, forward_cuda_tests (candidate)
#   latency     batch-1 decode at contexts 1k, 8k, 32k: base, candidate, base, candidate
#   throughput  256 requests of 1024 in / 1024 out at 256 at a time (one wave; reports the GPU
#               idle fraction): base, candidate
# The 8B model (kiln synth of models/deepseek-r1-distill-llama-8b/config.json) is made once in
# /tmp/r1-8b. Each stage prints one line per run; the logs go to OUT. AB_CANDIDATE_ARGS adds flags
# to the candidate's runs only (e.g. "--kv-cache-dtype fp8"). For a dry run of the script
# off the GPU: AB_DEVICE=cpu AB_CONFIG=tests/data/configs/tiny-llama.json AB_MODEL=/tmp/ab-tiny.
set -uo pipefail
bundle=${1:?usage: ab_candidate.sh BUNDLE OUT [STAGES]}
out=${2:?usage: ab_candidate.sh BUNDLE OUT [STAGES]}
stages=${3:-"tests latency throughput"}
run="$bundle/run"
model=${AB_MODEL:-/tmp/r1-8b}
config=${AB_CONFIG:-models/deepseek-r1-distill-llama-8b/config.json}
device=${AB_DEVICE:-cuda}
read -r -a candidate_args <<< "${AB_CANDIDATE_ARGS:-}"
# The flags of one executable's runs: the candidate's extra ones, none for the base.
extra_args() { [ "$1" = kiln ] && [ ${#candidate_args[@]} -gt 0 ] && printf '%s\n' "${candidate_args[@]}"; }
mkdir -p "$out"
has() { [[ " $stages " == *" $1 "* ]]; }
stamp() { echo "== $(date -u +%T) $*"; }
# Binaries and libraries may travel gzipped: a candidate, a base and two test binaries exceed the
# device tool's 64 MiB carry limit unpacked (~85 MB), not packed (~27 MB).
for packed in "$bundle"/bin/*.gz "$bundle"/lib/*.gz; do
  [ -e "$packed" ] && gunzip -f "$packed"
done
chmod +x "$bundle"/bin/* 2>/dev/null
for exe in kiln kiln-base; do
  [ -x "$bundle/bin/$exe" ] || { echo "ab_candidate.sh: $bundle/bin/$exe is missing" >&2; exit 2; }
done

make_8b() {
  [ -f "$model/model.safetensors.index.json" ] || [ -f "$model/model.safetensors" ] && return 0
  stamp "synth $config"
  "$run" kiln synth --config "$config" --out "$model" \
    --seed 8 --dtype bf16 > "$out/synth_8b.log" 2>&1 || { echo "synth failed"; tail -5 "$out/synth_8b.log"; exit 1; }
}

# One JSON line of `kiln bench` reduced to the fields compared; the log's last line when the run
# wrote none.
summary() {
  [ -s "$1" ] || { tail -1 "${1%.json}.log"; return; }
  python3 -c 'import json,sys
d = json.load(open(sys.argv[1]))
def get(k):
    v = d.get(k)
    return v["mean"] if isinstance(v, dict) else v
keys = ("decode_tokens_per_s_per_seq", "roofline_fraction", "ttft_ms", "itl_ms", "output_tokens_per_s",
        "elapsed_s", "device_idle_fraction")
print(" ".join(f"{k}={get(k):.4g}" for k in keys if k in d))' "$1" 2>/dev/null || head -c 300 "$1"
}

if has tests; then
  "$(dirname "$0")/run_gpu_suite.sh" "$bundle" "$out" tests  # the candidate's test binaries
fi

if has latency; then
  make_8b
  for ctx in 1024 8192 32768; do
    iters=3
    [ "$ctx" -ge 32768 ] && iters=1
    for round in 1 2; do
      for exe in kiln-base kiln; do
        name="latency_${ctx}_${exe}_${round}"
        mapfile -t extra < <(extra_args "$exe")
        timeout 240 "$run" "$exe" bench latency --model "$model" --device "$device" --input-len "$ctx" \
          --output-len 128 --num-iters "$iters" --json "${extra[@]}" > "$out/$name.json" 2> "$out/$name.log"
        echo "$name: $(summary "$out/$name.json")"
      done
    done
  done
fi

if has throughput; then
  make_8b
  for exe in kiln-base kiln; do
    name="throughput_256x1024_${exe}"
    mapfile -t extra < <(extra_args "$exe")
    timeout 280 "$run" "$exe" bench throughput --model "$model" --device "$device" --num-prompts 256 \
      --input-len 1024 --output-len 1024 --max-num-seqs 256 --max-num-batched-tokens 8192 --json \
      "${extra[@]}" > "$out/$name.json" 2> "$out/$name.log"
    echo "$name: $(summary "$out/$name.json")"
  done
fi
stamp done
