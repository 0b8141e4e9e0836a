#!/usr/bin/env bash
# Places the converted SmolLM2 into an isolated Hugging Face cache (for benchmarks),
# through mlxk-pull's own write path (`mlxk-pull --from`), and prints the cache
# directory. The user's own cache is never touched.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
fixtures="${MLXK_FIXTURES:-$HOME/.cache/mlxk-fixtures}"
model=$(bash "$root/scripts/fixtures.sh" smollm2 | tail -n 1)
hub="$fixtures/demo-hub"
mkdir -p "$hub"
printf 'isolated mlxk cache; safe to delete\n' > "$fixtures/.mlxk-isolated-cache"
pull="$root/target/release/mlxk-pull"
[ -x "$pull" ] || cargo build --release --quiet --manifest-path "$root/Cargo.toml" --bin mlxk-pull
HF_HUB_CACHE="$hub" "$pull" --from "$model" mlx-community/SmolLM2-135M-Instruct-4bit >/dev/null
printf '%s\n' "$hub"
