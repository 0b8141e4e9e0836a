#!/usr/bin/env bash
# Fuzzes the photo pixel decoder (JPEG through libjpeg-turbo behind mlxk's strict reader,
# PNG through the image crate) for a bounded time with cargo-fuzz (libFuzzer), seeded with
# the real photos under 1 MiB.
#
#   scripts/fuzz-photo-decode.sh [SECONDS]     default 60
#
# The corpus grows under ${MLXK_FIXTURES:-$HOME/.cache/mlxk-fixtures}/fuzz/photo-decode
# (outside git); a crash leaves its input in fuzz/artifacts/photo_decode/ and exits non-zero.
# Toolchain as scripts/fuzz-exif.sh: nightly with AddressSanitizer when rustup has one,
# otherwise stable with RUSTC_BOOTSTRAP=1 and no sanitizer.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
secs=${1:-60}
LOG_TAG=fuzz-photo-decode
. "$root/scripts/lib.sh"
cache="${MLXK_FIXTURES:-$HOME/.cache/mlxk-fixtures}"
corpus="$cache/fuzz/photo-decode"

if [ ! -d "$corpus" ] || [ -z "$(ls -A "$corpus")" ]; then
  photos=$(bash "$root/scripts/fixtures-photos.sh" | tail -n 1)
  mkdir -p "$corpus"
  find "$photos" -type f -size -1024k \( -name '*.jpg' -o -name '*.png' \) -exec cp {} "$corpus/" \;
  echo "[fuzz-photo-decode] seeded $(ls "$corpus" | wc -l) photos into $corpus" >&2
fi

fuzz_run photo_decode "$corpus" "$secs" 1048576
