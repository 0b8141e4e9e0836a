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
# with RUSTC_BOOTSTRAP=1 and no sanitizer (scripts/lib.sh fuzz_run).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
secs=${1:-60}
LOG_TAG=fuzz-npz
. "$root/scripts/lib.sh"
cache="${MLXK_FIXTURES:-$HOME/.cache/mlxk-fixtures}"
corpus="$cache/fuzz/npz"

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

fuzz_run npz "$corpus" "$secs" 65536
