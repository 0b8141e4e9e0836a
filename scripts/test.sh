#!/usr/bin/env bash
# Sets everything up (scripts/setup-tests.sh) and runs the whole test suite, then
# prints one closing line with the totals over every test binary.
# Tests that load models take a lock and run one at a time (MLX is not
# thread-safe across concurrent evaluation, and a 2-core machine has no room
# for two).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/setup-tests.sh
PYTHON=$(bash scripts/venv.sh test)
export PYTHON
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test --workspace --all-targets --release -- --test-threads=2 2>&1 | tee "$log" || status=$?
awk '/^test result:/ { p += $4; f += $6; i += $8 } END { printf "all tests: %d passed, %d failed, %d ignored\n", p, f, i }' "$log"
exit "$status"
