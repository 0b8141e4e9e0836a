#!/usr/bin/env bash
# Fuzzes the .npz reader (mlxk_core::npz, for weights.npz of older Whisper conversions)
# for a bounded time with cargo-fuzz, seeded with small archives numpy writes (stored and
# deflated, every dtype the reader takes, a scalar, an empty array).
#
#   scripts/fuzz-npz.sh [SECONDS]     default 60
#
# The corpus grows under ${MLXK_FIXTURES:-$HOME/.cache/mlxk-fixtures}/fuzz/npz (outside git);
# a crash leaves its input in fuzz/artifacts/npz/ and exits non-zero. Toolchain as
# scripts/fuzz-exif.sh: nightly with AddressSanitizer when rustup has it, else stable
# with RUSTC_BOOTSTRAP=1 and no sanitizer.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
secs=${1:-60}
cache="${MLXK_FIXTURES:-$HOME/.cache/mlxk-fixtures}"
corpus="$cache/fuzz/npz"

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "[fuzz-npz] installing cargo-fuzz" >&2
  cargo install --locked --quiet cargo-fuzz >&2
fi

if [ ! -d "$corpus" ] || [ -z "$(ls -A "$corpus")" ]; then
  mkdir -p "$corpus"
  py=$(bash "$root/scripts/venv.sh" test)
  "$py" - "$corpus" <<'PY'
import sys, numpy as np
d = sys.argv[1]
arrays = {"w": np.arange(12, dtype=np.float32).reshape(3, 4), "h": np.ones(5, np.float16),
          "q": np.arange(8, dtype=np.uint32), "i": np.array([-1, 2], np.int32),
          "s": np.float32(3.0), "e": np.zeros((0, 3), np.float32)}
np.savez(f"{d}/stored.npz", **arrays)
np.savez_compressed(f"{d}/deflated.npz", **arrays)
np.savez(f"{d}/one.npz", w=np.ones((2, 2), np.float32))
PY
  echo "[fuzz-npz] seeded $(ls "$corpus" | wc -l) archives into $corpus" >&2
fi

cd "$root/fuzz"
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  toolchain=(+nightly)
  sanitizer=(-s address)
else
  export RUSTC_BOOTSTRAP=1
  toolchain=()
  sanitizer=(-s none)
fi
echo "[fuzz-npz] fuzzing for ${secs}s (${toolchain[*]:-stable} ${sanitizer[*]})" >&2
cargo "${toolchain[@]}" fuzz run "${sanitizer[@]}" --release npz "$corpus" -- \
  -max_total_time="$secs" -max_len=65536 -rss_limit_mb=2048 -timeout=10 -print_final_stats=1
