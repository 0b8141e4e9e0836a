#!/usr/bin/env bash
# Places the converted SmolLM2 into an isolated Hugging Face cache, in the
# real layout (blobs named by sha256, relative snapshot links, refs/main),
# and prints the cache directory. The user's own cache is never touched.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
fixtures="${MLXK_FIXTURES:-$HOME/.cache/mlxk-fixtures}"
model=$(bash "$root/scripts/fixtures.sh" smollm2 | tail -n 1)
hub="$fixtures/demo-hub"
repo="$hub/models--mlx-community--SmolLM2-135M-Instruct-4bit"
mkdir -p "$hub"
printf 'isolated mlxk cache; safe to delete\n' > "$fixtures/.mlxk-isolated-cache"
commit=$(cat "$model"/* | sha1sum | cut -c1-40)
if [ ! -f "$repo/refs/main" ] || [ "$(cat "$repo/refs/main")" != "$commit" ]; then
  tmp=$(mktemp -d "$hub/.build.XXXXXX")
  mkdir -p "$tmp/blobs" "$tmp/snapshots/$commit" "$tmp/refs"
  for f in "$model"/*; do
    sum=$(sha256sum "$f" | cut -d' ' -f1)
    cp "$f" "$tmp/blobs/$sum"
    ln -s "../../blobs/$sum" "$tmp/snapshots/$commit/$(basename "$f")"
  done
  printf '%s' "$commit" > "$tmp/refs/main"
  rm -rf "$repo"
  mv "$tmp" "$repo"
fi
printf '%s\n' "$hub"
