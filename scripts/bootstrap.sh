#!/usr/bin/env bash
# Install nightshift and its locked dependencies into .venv, using only python3.
# Sourced by ./nightshift and scripts/test; safe to run again (fast when nothing changed).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$root/.tools"
uv_version="0.13.9"
python="${NIGHTSHIFT_PYTHON:-python3}"

if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "nightshift needs Python 3.11 or newer as $python (set NIGHTSHIFT_PYTHON to another)" >&2
  exit 1
fi
if [ ! -x "$tools/bin/uv" ]; then
  echo "bootstrap: installing uv $uv_version into .tools/" >&2
  "$python" -m venv "$tools"
  "$tools/bin/python" -m pip install --quiet --disable-pip-version-check "uv==$uv_version"
fi
export UV_PROJECT_ENVIRONMENT="$root/.venv"
export UV_PYTHON="$python"
"$tools/bin/uv" sync --locked --quiet --project "$root" ${NIGHTSHIFT_SYNC_ARGS:-}
