#!/usr/bin/env bash
# Sets everything up (scripts/setup.sh) and runs the whole test suite.
# Tests that load models run one at a time (MLX is not thread-safe across
# concurrent evaluation, and a 2-core machine has no room for two).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/setup.sh
cargo test --workspace --all-targets --release -- --test-threads=2
