#!/usr/bin/env bash
# The newcomer's path, checked: scripts/quickstart.sh in a throwaway HOME (so the
# machine's own cache, PATH and shell files are untouched; the cargo, rustup and
# fixture caches are reused), then every README "Use" example that does not say
# "needs", each in a new login shell of that HOME with no mlxk variable set.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export RUSTUP_HOME="${RUSTUP_HOME:-$HOME/.rustup}" CARGO_HOME="${CARGO_HOME:-$HOME/.cargo}"
export MLXK_FIXTURES="${MLXK_FIXTURES:-$HOME/.cache/mlxk-fixtures}"
home=$(mktemp -d)
trap 'rm -rf "$home"' EXIT
unset HF_HOME HF_HUB_CACHE PREFIX
HOME="$home" bash scripts/quickstart.sh
work="$home/work"
mkdir -p "$work"
n=0
while IFS= read -r line; do
  case "$line" in "" | "#"* | *needs*) continue ;; esac
  echo "\$ $line"
  (cd "$work" && env -i HOME="$home" TERM=dumb bash -lc "set -o pipefail; $line" </dev/null)
  n=$((n + 1))
done < <(awk '/^## Use/ { u = 1 } u && /^```sh/ { b = 1; next } b && /^```/ { exit } b' README.md)
echo "ci-quickstart: the quickstart and $n README examples ran in a new shell"
