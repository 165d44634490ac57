#!/usr/bin/env bash
# Browser tests of the web UI: vitest unit tests of web/ (SSE parser, reasoning display, dashboard
# rates), then Debian's chromium driven by playwright-core.
#
# The browser tests run against tests/web/mock-server.mjs, a stand-in that speaks kiln serve's
# protocol and serves the UI bundle the build embedded (BUILD/src/web/dist), because `kiln serve`
# had not landed on main when this suite was written. Screenshots go to BUILD/web-screenshots/.
set -euo pipefail
cd "$(dirname "$0")"
build=$(cd ../.. && realpath "${KILN_BUILD_DIR:-build}")
if [ ! -f "$build/src/web/dist/index.html" ]; then
  echo "tests/web: $build/src/web/dist is missing: the web UI was not built (npm missing?)" >&2
  exit 1
fi
if [ ! -x /usr/bin/chromium ] && [ -z "${KILN_CHROMIUM:-}" ]; then
  echo "tests/web: /usr/bin/chromium is missing: run scripts/install-deps.sh" >&2
  exit 1
fi
(cd ../../web && npx vitest run --reporter=dot)
KILN_BUILD_DIR="$build" node --test --test-concurrency=1 chat.test.mjs dashboard.test.mjs
echo "tests/web: screenshots in $build/web-screenshots"
