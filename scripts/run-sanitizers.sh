#!/usr/bin/env bash
# The sanitizer and fuzzing stage of CI (issue 15), after `make test`:
#  1. build-asan: clang with -DKILN_SANITIZE=address,undefined and -DKILN_FUZZ=ON (CPU only);
#     the unit tests, then the hostile-client and error e2e suites against the sanitized
#     `kiln serve`, then every fuzz target for KILN_FUZZ_SECONDS (default 30) each from its seed
#     corpus under tests/fuzz/corpus/. A sanitizer report, a leak, a crash or a fuzz finding
#     fails the stage.
#  2. build-tsan: clang with -DKILN_SANITIZE=thread; the engine and server unit tests.
# usage: scripts/run-sanitizers.sh [asan|tsan|fuzz|all] (default all). KILN_SANITIZE_JOBS sets
# the build parallelism (default nproc).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
what=${1:-all}
jobs=${KILN_SANITIZE_JOBS:-$(nproc)}
fuzz_seconds=${KILN_FUZZ_SECONDS:-30}
start=$(date +%s)
export CC=${KILN_SANITIZE_CC:-clang-14} CXX=${KILN_SANITIZE_CXX:-clang++-14}
# A report fails the run that made it; leaks are reported at exit. UBSan stops at the first report.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}
if [ -x /usr/bin/llvm-symbolizer-14 ]; then
  export ASAN_SYMBOLIZER_PATH=/usr/bin/llvm-symbolizer-14 TSAN_SYMBOLIZER_PATH=/usr/bin/llvm-symbolizer-14
fi

configure() {  # configure DIR SANITIZERS [extra cmake flags]
  local dir=$1 sanitize=$2
  shift 2
  [ -f "$dir/build.ninja" ] && return 0
  # -O1 with line tables: quick to compile, fast enough to run, and reports with file:line.
  cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1" \
    -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -g1" -DKILN_CUDA=OFF -DKILN_WERROR=ON -DKILN_SANITIZE="$sanitize" "$@" >/dev/null
}

stage() { echo "== sanitizers: $* ($(( $(date +%s) - start )) s)"; }

asan_tests="base_tests api_tests server_tests tracing_tests tokenizer_tests jinja_tests model_tests cli_tests"

if [ "$what" = all ] || [ "$what" = asan ] || [ "$what" = fuzz ]; then
  stage "ASan+UBSan build"
  configure build-asan address,undefined -DKILN_FUZZ=ON
  # The short form: the binary, the tests of every layer that reads outside input, the fuzz
  # targets (the engine and kernel tests run in the release build and, engine, under TSan).
  cmake --build build-asan -j "$jobs" --target kiln $asan_tests \
    fuzz_http_request fuzz_api_request fuzz_chat_template fuzz_tokenizer_json fuzz_bpe_encode \
    fuzz_safetensors_header fuzz_model_config
  scripts/make-demo-model.sh build-asan >/dev/null
fi

if [ "$what" = all ] || [ "$what" = asan ]; then
  stage "unit tests under ASan+UBSan"
  for tests in $asan_tests; do
    module=${tests%_tests}
    "build-asan/tests/unit/$module/$tests" --gtest_brief=1
  done
  stage "e2e (hostile clients, errors, streaming) under ASan+UBSan"
  (cd tests/e2e && KILN_BUILD_DIR="$root/build-asan" KILN_E2E_SANITIZED=1 node --test --test-concurrency=1 \
    hostile.test.mjs errors.test.mjs streaming.test.mjs)
fi

if [ "$what" = all ] || [ "$what" = fuzz ]; then
  for target in build-asan/tests/fuzz/fuzz_*; do
    name=$(basename "$target")
    stage "$name for ${fuzz_seconds} s"
    corpus=$(mktemp -d)
    log="build-asan/$name.log"
    # New inputs go to a scratch corpus; the committed seeds are read only.
    if ! "$target" -max_total_time="$fuzz_seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
      -print_final_stats=1 -artifact_prefix="build-asan/$name-" "$corpus" "tests/fuzz/corpus/$name" >"$log" 2>&1; then
      tail -60 "$log" >&2
      echo "$name failed: the input is in build-asan/$name-*" >&2
      rm -rf "$corpus"
      exit 1
    fi
    grep -E "^(#[0-9]+ +DONE|stat::number_of_executed_units|stat::peak_rss_mb)" "$log" || true
    rm -rf "$corpus"
  done
fi

if [ "$what" = all ] || [ "$what" = tsan ]; then
  stage "TSan build (engine, server)"
  configure build-tsan thread
  cmake --build build-tsan -j "$jobs" --target engine_tests server_tests
  stage "engine and server unit tests under TSan"
  build-tsan/tests/unit/engine/engine_tests --gtest_brief=1
  build-tsan/tests/unit/server/server_tests --gtest_brief=1
fi

echo "sanitizers: passed in $(( $(date +%s) - start )) s"
