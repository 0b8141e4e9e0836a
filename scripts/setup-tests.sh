#!/usr/bin/env bash
# Everything the tests need, on top of scripts/setup.sh (which builds):
#   apt:      git-lfs, mandoc (man page lint), time and bc (benchmarks)
#   venv:     `test` (scripts/requirements/test.txt): mlx-lm, mlx-knife, huggingface_hub,
#             olah — the reference tools the tests compare against
#   fixtures: the real models and files of fixtures/manifest.tsv, cached under
#             ${MLXK_FIXTURES:-~/.cache/mlxk-fixtures}
# Idempotent and non-interactive.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
LOG_TAG=setup-tests
. scripts/lib.sh

bash scripts/setup.sh
apt_need git git-lfs mandoc time bc
log "Python venv for the reference tools (mlx-lm, mlx-knife, huggingface_hub, olah)"
bash scripts/venv.sh test >/dev/null
log "fixtures: real models, converted and cached"
bash scripts/fixtures.sh all >/dev/null
log "ready"
