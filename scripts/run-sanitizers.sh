#!/usr/bin/env bash
# The sanitizer and fuzzing stage of CI (issue 15); scripts/run-tests.sh runs `ci` after the
# other suites unless KILN_SANITIZERS=0.
#   ci    (default) what CI runs, sized for a cold build on 2 cores in about 13 minutes:
#         build-asan: clang, -DKILN_SANITIZE=address,undefined -DKILN_FUZZ=ON, -O1 with line
#         tables, each module and test binary as a unity build (KILN_UNITY_BUILD); the unit tests
#         of the layers that read outside input (base: JSON nesting and UTF-8; api: request
#         parsing, validation and limits; server: HTTP parsing and hostile connections;
#         tokenizer: tokenizer.json, the pre-tokenizer regex and chat templates; jinja; tracing),
#         then every fuzz target for KILN_FUZZ_SECONDS (default 20) from its seed corpus
#         (tests/fuzz/corpus), two at a time, with a fixed seed (KILN_FUZZ_SEED, default 1; 0
#         lets libFuzzer pick one) so that a rerun of CI explores the same inputs; then the e2e
#         suites that attack the server (hostile clients, bad requests, streaming and
#         disconnects) against `kiln serve` built with ASan+UBSan (about 3 minutes; the plain run
#         of tests/e2e holds the checks ASan would distort: RSS growth, the 10 MB prompt); then
#         build-tsan: -DKILN_SANITIZE=thread, the engine and server unit tests (the engine's step
#         thread, the HTTP threads, their hand-offs).
#   asan  the ASan+UBSan unit tests and fuzz targets; e2e: the e2e suites under ASan+UBSan;
#         tsan: the TSan half.
#   all   the same as ci.
# A sanitizer report, a leak, a crash, a failed test or a fuzz finding fails the stage.
# KILN_SANITIZE_JOBS sets the build parallelism (default nproc).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
what=${1:-ci}
[ "$what" = all ] && what=ci
case "$what" in ci | asan | tsan | e2e) ;;
*)
  echo "usage: scripts/run-sanitizers.sh [ci|asan|tsan|e2e|all]" >&2
  exit 2
  ;;
esac
jobs=${KILN_SANITIZE_JOBS:-$(nproc)}
fuzz_seconds=${KILN_FUZZ_SECONDS:-20}
fuzz_seed=${KILN_FUZZ_SEED:-1}
start=$(date +%s)
export CC=${KILN_SANITIZE_CC:-clang-14} CXX=${KILN_SANITIZE_CXX:-clang++-14}
if ! command -v "$CXX" >/dev/null; then
  echo "sanitizers: $CXX not found (scripts/install-deps.sh installs clang-14; KILN_SANITIZERS=0 skips this stage)" >&2
  exit 1
fi
# A report fails the run that made it; leaks are reported at exit. UBSan stops at the first report.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}
if [ -x /usr/bin/llvm-symbolizer-14 ]; then
  export ASAN_SYMBOLIZER_PATH=/usr/bin/llvm-symbolizer-14 TSAN_SYMBOLIZER_PATH=/usr/bin/llvm-symbolizer-14
fi

configure() { # configure DIR OPT SANITIZERS [extra cmake flags]
  local dir=$1 opt=$2 sanitize=$3
  shift 3
  [ -f "$dir/build.ninja" ] && return 0
  # Line tables for file:line in reports; unity modules because this build is never cached.
  cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="$opt -g1" \
    -DCMAKE_C_FLAGS_DEBUG="$opt -g1" -DKILN_CUDA=OFF -DKILN_WERROR=ON -DKILN_UNITY_BUILD=ON \
    -DKILN_SANITIZE="$sanitize" "$@" >/dev/null
}

# Elapsed time and load: the machine may be shared, which stretches every figure here.
stage() { echo "== sanitizers: $* ($(($(date +%s) - start)) s, load $(cut -d' ' -f1-3 /proc/loadavg))"; }

asan_tests="base_tests api_tests server_tests tokenizer_tests jinja_tests tracing_tests"
fuzz_targets="fuzz_http_request fuzz_api_request fuzz_chat_template fuzz_tokenizer_json fuzz_bpe_encode
  fuzz_safetensors_header fuzz_model_config"

run_fuzz() { # run_fuzz TARGET: KILN_FUZZ_SECONDS from the seeds, new inputs to a scratch corpus
  local name=$1 scratch log=build-asan/$1.log
  scratch=$(mktemp -d)
  if ! "build-asan/tests/fuzz/$name" -max_total_time="$fuzz_seconds" -seed="$fuzz_seed" -timeout=10 -rss_limit_mb=2048 \
    -max_len=65536 -print_final_stats=1 -artifact_prefix="build-asan/$name-" "$scratch" \
    "tests/fuzz/corpus/$name" >"$log" 2>&1; then
    rm -rf "$scratch"
    tail -60 "$log" >&2
    echo "$name failed: the input is in build-asan/$name-*" >&2
    return 1
  fi
  rm -rf "$scratch"
  echo "$name: $(grep -E '^stat::number_of_executed_units' "$log" | cut -d: -f4 | tr -d ' ') runs in ${fuzz_seconds} s, $(grep -cE '^#[0-9]+[[:space:]]+(NEW|REDUCE)' "$log") new inputs"
}

if [ "$what" = ci ] || [ "$what" = asan ]; then
  stage "ASan+UBSan build"
  configure build-asan -O1 address,undefined -DKILN_FUZZ=ON
  cmake --build build-asan -j "$jobs" --target $asan_tests $fuzz_targets
  scripts/make-tokenizer.sh build-asan >/dev/null
  stage "unit tests under ASan+UBSan"
  for tests in $asan_tests; do
    module=${tests%_tests}
    "build-asan/tests/unit/$module/$tests" --gtest_brief=1
  done
  # The targets run $jobs at a time; the first failure fails the stage after the others end.
  failed=0
  pids=()
  for name in $fuzz_targets; do
    stage "$name for ${fuzz_seconds} s"
    run_fuzz "$name" &
    pids+=($!)
    if [ ${#pids[@]} -ge "$jobs" ]; then
      wait "${pids[0]}" || failed=1
      pids=("${pids[@]:1}")
    fi
  done
  for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
  [ "$failed" = 0 ] || exit 1
fi

if [ "$what" = ci ] || [ "$what" = e2e ]; then
  stage "kiln under ASan+UBSan"
  configure build-asan -O1 address,undefined -DKILN_FUZZ=ON
  cmake --build build-asan -j "$jobs" --target kiln
  scripts/make-demo-model.sh build-asan >/dev/null
  stage "e2e (hostile clients, errors, streaming) under ASan+UBSan"
  (cd tests/e2e && KILN_BUILD_DIR="$root/build-asan" KILN_E2E_SANITIZED=1 node --test --test-concurrency=1 \
    hostile.test.mjs errors.test.mjs streaming.test.mjs)
fi

if [ "$what" = ci ] || [ "$what" = tsan ]; then
  stage "TSan build (engine, server)"
  configure build-tsan -O1 thread
  cmake --build build-tsan -j "$jobs" --target engine_tests server_tests
  stage "engine and server unit tests under TSan"
  build-tsan/tests/unit/engine/engine_tests --gtest_brief=1
  build-tsan/tests/unit/server/server_tests --gtest_brief=1
fi

echo "sanitizers ($what): passed in $(($(date +%s) - start)) s"
