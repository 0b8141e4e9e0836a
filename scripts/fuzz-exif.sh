#!/usr/bin/env bash
# Fuzzes the photo metadata reader (EXIF via kamadak-exif, image headers) for a
# bounded time with cargo-fuzz (libFuzzer), seeded with the real photos.
#
#   scripts/fuzz-exif.sh [SECONDS]     default 60
#
# The corpus grows under ${MLXK_FIXTURES:-$HOME/.cache/mlxk-fixtures}/fuzz/exif (outside git);
# a crash leaves its input in fuzz/artifacts/exif/ and exits non-zero.
# Toolchain: cargo-fuzz needs nightly for its sanitizer flags. The nightly toolchain is used
# when rustup has one (AddressSanitizer on); otherwise stable with RUSTC_BOOTSTRAP=1 and no
# sanitizer (`-s none`): libFuzzer's coverage guidance still works, memory errors in unsafe
# code would go unseen (mlxk-core has none). cargo-fuzz is installed when absent.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
secs=${1:-60}
LOG_TAG=fuzz-exif
. "$root/scripts/lib.sh"
cache="${MLXK_FIXTURES:-$HOME/.cache/mlxk-fixtures}"
corpus="$cache/fuzz/exif"

if [ ! -d "$corpus" ] || [ -z "$(ls -A "$corpus")" ]; then
  photos=$(bash "$root/scripts/fixtures-photos.sh" | tail -n 1)
  mkdir -p "$corpus"
  # The EXIF of a photo sits in its first 64 KiB; whole 50 MP files would only slow libFuzzer.
  for f in "$photos"/{pillow,goexif,goexif-corrupt,made}/*; do
    head -c 65536 "$f" > "$corpus/$(basename "$f")"
  done
  echo "[fuzz-exif] seeded $(ls "$corpus" | wc -l) photos into $corpus" >&2
fi

fuzz_run exif "$corpus" "$secs" 65536
