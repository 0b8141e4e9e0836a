#!/usr/bin/env bash
# Installs everything mlxk needs to build and test on a fresh Debian/Ubuntu
# machine (or checks it is there on macOS), then builds the binaries.
#   apt:    cmake libclang-dev libopenblas-dev liblapacke-dev (MLX's CPU backend),
#           git-lfs (the mirror tests), mandoc (man page lint)
#   pip:    mlx-cpu 0.32.2 (libmlx for the patched mlx-sys) and the Python
#           reference tools (mlx-lm, mlx-knife, huggingface_hub, olah)
#   cargo:  the patched mlx-sys in .deps/ (scripts/setup-mlx-sys.sh)
#   fixtures: real models, cached outside the work tree (scripts/fixtures.sh)
# Idempotent and non-interactive; safe to run again.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
log() { printf '[setup] %s\n' "$*" >&2; }

if [ "$(uname -s)" = Linux ]; then
  need=()
  for pkg in cmake libclang-dev libopenblas-dev liblapacke-dev git-lfs mandoc; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
  done
  if [ ${#need[@]} -gt 0 ]; then
    log "apt-get install ${need[*]}"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
  fi
fi

log "Python tools"
bash scripts/fixtures.sh python >/dev/null
log "libmlx (CPU backend, system OpenBLAS)"
bash scripts/setup-mlx-lib.sh
log "patched mlx-sys"
bash scripts/setup-mlx-sys.sh
log "fixtures (real models)"
bash scripts/fixtures.sh all >/dev/null
if [ -f scripts/setup-pull-tests.sh ]; then
  log "pull test servers"
  bash scripts/setup-pull-tests.sh >/dev/null
fi
log "cargo build --release"
cargo build --release --quiet
log "done: binaries in target/release"
