#!/usr/bin/env bash
# Installs what mlxk needs to build and run (not to test: scripts/setup-tests.sh), then
# builds the binaries. Idempotent and non-interactive; safe to run again.
#   apt:    cmake libclang-dev libopenblas-dev liblapacke-dev (MLX's CPU backend), jq,
#           nasm (libjpeg-turbo's SIMD decoder, whose pixels are Pillow's)
#   venv:   `run` (scripts/requirements/run.txt): mlx-cpu 0.32.2 for libmlx, and what
#           converts the default model from its GGUF
#   deps:   libmlx at .deps/mlx-lib, the patched mlx-sys at .deps/mlx-sys
#   cargo:  the release binaries, with every feature the tests use, so that
#           scripts/test.sh after this rebuilds nothing
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
LOG_TAG=setup
. scripts/lib.sh

apt_need cmake libclang-dev libopenblas-dev liblapacke-dev jq nasm
log "Python venv for the runtime (mlx-cpu, gguf)"
bash scripts/venv.sh run >/dev/null
log "libmlx (CPU backend, system OpenBLAS) at .deps/mlx-lib"
bash scripts/setup-mlx-lib.sh
log "patched mlx-sys at .deps/mlx-sys"
bash scripts/setup-mlx-sys.sh
if [ -d target/release ]; then
  log "cargo build --release (up to date in seconds, or a rebuild of what changed)"
else
  log "cargo build --release: the first build takes about 10 minutes on 2 cores"
fi
t0=$SECONDS
# shellcheck disable=SC2046
cargo build --release --workspace --bins $(cargo_quiet_flag)
log "built in $((SECONDS - t0)) s: binaries in target/release"
