#!/usr/bin/env bash
# ccusage 17.2.1 (plain JavaScript) is the reference the usage scanner is compared with.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="$root/.tools/ccusage"
if [ -x "$dest/node_modules/.bin/ccusage" ]; then exit 0; fi
command -v npm >/dev/null || { echo "npm not found" >&2; exit 1; }
mkdir -p "$dest"
npm install --prefix "$dest" --no-audit --no-fund --silent ccusage@17.2.1 >/dev/null
