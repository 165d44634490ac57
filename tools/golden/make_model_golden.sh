#!/usr/bin/env bash
# Makes the golden fixtures of tests/golden/model/ on the GPU machine (torch 2.11, transformers
# 5.17): synthesizes each model of manifest.json with the built `kiln synth` in f32, then runs HF
# transformers over it in fp32 (tools/golden/make_model_golden.py).
#
#   tools/golden/make_model_golden.sh [BUILD_DIR (default build)] [WORK_DIR (default /tmp/kiln-golden-models)]
#
# Output: tests/golden/model/<name>.json (commit them).
set -euo pipefail
cd "$(dirname "$0")/../.."
build_dir=${1:-build}
work_dir=${2:-/tmp/kiln-golden-models}
manifest=tests/golden/model/manifest.json
mkdir -p "$work_dir"
python3 - "$manifest" <<'PY' | while read -r name seed std; do
import json, sys
for name, entry in json.load(open(sys.argv[1]))["models"].items():
    print(name, entry["seed"], entry["std"])
PY
  rm -rf "${work_dir:?}/$name"
  "$build_dir/kiln" synth --config "tests/golden/model/configs/$name.json" --out "$work_dir/$name" \
    --seed "$seed" --std "$std" --dtype f32
done
python3 tools/golden/make_model_golden.py --models-dir "$work_dir" --out-dir tests/golden/model
