#!/usr/bin/env bash
# The real Claude Code CLI, pinned, for the tests that run it against the fake Messages API
# (tests/fakes/messages_api.py). It is a ~400 MB native binary, so it lives in a per-version
# cache outside the clone (shared by every worktree), never in the repository.
# Prints the binary's path. `--ignore-scripts`: the postinstall only links bin/claude.exe.
set -euo pipefail
version="${NIGHTSHIFT_CLAUDE_VERSION:-2.1.332}"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/nightshift/claude-code/$version"
case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) platform=linux-x64 ;;
  Linux-aarch64) platform=linux-arm64 ;;
  Darwin-arm64) platform=darwin-arm64 ;;
  Darwin-x86_64) platform=darwin-x64 ;;
  *) echo "install-claude: no Claude Code package for $(uname -s)-$(uname -m)" >&2; exit 1 ;;
esac
bin="$cache/node_modules/@anthropic-ai/claude-code-$platform/claude"
if [ -x "$bin" ] && [ -f "$cache/.complete" ]; then echo "$bin"; exit 0; fi
command -v npm >/dev/null || { echo "install-claude: npm not found (install Node.js 18+)" >&2; exit 1; }
mkdir -p "$(dirname "$cache")"
# Install into a fresh temporary folder and move it into place: a run killed half-way never
# leaves a cache that looks complete.
tmp="$(mktemp -d "$cache.tmp.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
npm install --prefix "$tmp" --no-audit --no-fund --loglevel=error --ignore-scripts \
  "@anthropic-ai/claude-code@$version" >/dev/null
tbin="$tmp/node_modules/@anthropic-ai/claude-code-$platform/claude"
[ -f "$tbin" ] || { echo "install-claude: $tbin missing after npm install" >&2; exit 1; }
chmod +x "$tbin"
touch "$tmp/.complete"
# A cache left half-way by an older run goes; one another install just finished stays (ours goes).
if [ -d "$cache" ] && [ ! -f "$cache/.complete" ]; then rm -rf "$cache"; fi
if [ ! -e "$cache" ]; then mv "$tmp" "$cache"; fi
[ -x "$bin" ] || { echo "install-claude: $bin is not executable" >&2; exit 1; }
echo "$bin"
