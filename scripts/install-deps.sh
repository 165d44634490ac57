#!/usr/bin/env bash
# Installs what kiln's build and tests need and the machine lacks: Debian packages with apt-get,
# npm packages with npm ci in the folders that have a package.json. Safe to run again; does
# nothing when everything is there. Run as root (or with sudo available).
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential cmake ninja-build pkg-config ccache
  libboost-dev nlohmann-json3-dev libpcre2-dev libcurl4-openssl-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  nodejs npm python3 python3-jinja2
)
# Optional extras for the end-to-end and browser tests, added by the suites that need them.
if [ -f scripts/extra-packages.txt ]; then
  mapfile -t extra < <(grep -v '^#' scripts/extra-packages.txt | grep -v '^$')
  packages+=("${extra[@]}")
fi

missing=()
for package in "${packages[@]}"; do
  # A command that is already on the PATH (e.g. node from another source) needs no package.
  case "$package" in
    nodejs) command -v node >/dev/null && continue ;;
    npm) command -v npm >/dev/null && continue ;;
    python3) command -v python3 >/dev/null && continue ;;
    python3-jinja2) python3 -c 'import jinja2' 2>/dev/null && continue ;;
    cmake) command -v cmake >/dev/null && continue ;;
  esac
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "kiln: installing Debian packages: ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# npm packages: each folder with a package-lock.json gets `npm ci` when node_modules is missing
# or older than its lock file.
for lock in tools/package-lock.json tools/tokenizer/package-lock.json tests/e2e/package-lock.json web/package-lock.json tests/deploy/package-lock.json tests/web/package-lock.json tests/grammar/package-lock.json; do
  [ -f "$lock" ] || continue
  dir=$(dirname "$lock")
  if [ ! -d "$dir/node_modules" ] || [ "$lock" -nt "$dir/node_modules/.package-lock.json" ]; then
    echo "kiln: npm ci in $dir"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  fi
done
