#!/usr/bin/env bash
# Makes the FP8 golden fixtures of tests/golden/model_fp8/ on the GPU machine (torch with
# float8_e4m3fn, transformers; runs on its CPU): synthesizes each model of manifest.json with the
# built `kiln synth` (f32 values, FP8 codes), then runs PyTorch's FP8 emulation over it in f32
# (tools/golden/make_fp8_golden.py).
#
#   tools/golden/make_fp8_golden.sh [BUILD_DIR (default build)] [WORK_DIR (default /tmp/kiln-fp8-golden)]
#
# Output: tests/golden/model_fp8/<name>.json (commit them).
set -euo pipefail
cd "$(dirname "$0")/../.."
build_dir=${1:-build}
work_dir=${2:-/tmp/kiln-fp8-golden}
# KILN: how to run kiln (words), e.g. "BUNDLE/run kiln" on the GPU machine.
read -r -a kiln <<< "${KILN:-$build_dir/kiln}"
manifest=tests/golden/model_fp8/manifest.json
mkdir -p "$work_dir"
python3 - "$manifest" <<'PY' | while read -r name config quantization seed std; do
import json, sys
for name, entry in json.load(open(sys.argv[1]))["models"].items():
    print(name, entry["config"], entry["quantization"], entry["seed"], entry["std"])
PY
  rm -rf "${work_dir:?}/$name"
  extra=()
  [ "$quantization" != online ] && extra=(--quantization "$quantization")
  "${kiln[@]}" synth --config "tests/golden/model/configs/$config.json" --out "$work_dir/$name" \
    --seed "$seed" --std "$std" --dtype f32 "${extra[@]}"
done
python3 tools/golden/make_fp8_golden.py --models-dir "$work_dir" --out-dir tests/golden/model_fp8
