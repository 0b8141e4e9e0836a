#!/usr/bin/env bash
# Puts a patched copy of crates.io mlx-sys 0.7.0 at .deps/mlx-sys (ignored by git),
# which the workspace's [patch.crates-io] points at. The patch keeps the macOS build as
# upstream has it and builds MLX's CPU backend elsewhere (see docs/decisions.md).
# Idempotent: a stamp holding the applied patch is compared on every run.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dest="$root/.deps/mlx-sys"
patch="$root/scripts/patches/mlx-sys-0.7.0-linux.patch"
stamp="$dest/.mlxk-patch"

if [ -f "$stamp" ] && cmp -s "$patch" "$stamp"; then
  exit 0
fi

scratch=$(mktemp -d)
trap 'rm -rf "$scratch" "$dest.tmp"' EXIT
mkdir -p "$scratch/src"
: > "$scratch/src/lib.rs"
cat > "$scratch/Cargo.toml" <<'TOML'
[package]
name = "fetch-mlx-sys"
version = "0.0.0"
edition = "2021"

[dependencies]
mlx-sys = "=0.7.0"
TOML
cargo fetch --quiet --manifest-path "$scratch/Cargo.toml"
src=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/mlx-sys-0.7.0 | head -n 1)

rm -rf "$dest.tmp"
mkdir -p "$root/.deps"
cp -r "$src" "$dest.tmp"
(cd "$dest.tmp" && patch -p1 --quiet < "$patch")
cp "$patch" "$dest.tmp/.mlxk-patch"
rm -rf "$dest"
mv "$dest.tmp" "$dest"
echo "mlx-sys 0.7.0 patched at $dest" >&2
