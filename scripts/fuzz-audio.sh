#!/usr/bin/env bash
# Fuzzes mlxk-audio's decoders (fuzz/fuzz_targets/audio_decode.rs) for a bounded time,
# seeded with the real clips and the bad inputs of scripts/fixtures-audio.sh.
#   scripts/fuzz-audio.sh [SECONDS]     (default 60)
# Needs the nightly toolchain (rustup toolchain install nightly) and cargo-fuzz (installed
# here with `cargo install cargo-fuzz --locked` when missing). Exit status 0: no crash,
# no timeout, no out-of-memory in that time; crashes are left in fuzz/artifacts/.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-60}
cargo fuzz --version >/dev/null 2>&1 || cargo install cargo-fuzz --locked >&2
audio=$(bash "$root/scripts/fixtures-audio.sh" clips | tail -n 1)
corpus="$root/fuzz/corpus/audio_decode"
mkdir -p "$corpus"
# Seeds: small real files of every container, and every kind of bad input.
for f in jfk.mp3 jfk.flac jfk.ogg jfk.m4a bad/*; do
  cp -f "$audio/$f" "$corpus/$(echo "$f" | tr / _)"
done
head -c 64000 "$audio/jfk.wav" > "$corpus/jfk-head.wav"
cd "$root/fuzz"
cargo +nightly fuzz run audio_decode "$corpus" -- \
  -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=262144 >&2
echo "[fuzz-audio] no crash, hang or out-of-memory in ${seconds} s" >&2
