#!/usr/bin/env bash
# Regenerates man/ and completions/ from the binaries' clap definitions.
# tests/docs.rs fails when the committed files differ from what this writes.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
cargo build --release --quiet --workspace --bins
mkdir -p man completions
for bin in $(cargo metadata --no-deps --format-version 1 \
    | python3 -c 'import json,sys; print("\n".join(t["name"] for p in json.load(sys.stdin)["packages"] if p["name"]=="mlxk" for t in p["targets"] if "bin" in t["kind"]))'); do
  exe="target/release/$bin"
  "$exe" --generate man > "man/$bin.1"
  "$exe" --generate bash > "completions/$bin.bash"
  "$exe" --generate zsh > "completions/_$bin"
  "$exe" --generate fish > "completions/$bin.fish"
  if command -v mandoc >/dev/null; then
    mandoc -T lint -W warning "man/$bin.1" || true
  fi
done
