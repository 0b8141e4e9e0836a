#!/usr/bin/env bash
# Project virtual environments for Python tools, never the system interpreter.
#
#   scripts/venv.sh NAME     creates or updates the venv NAME from
#                            scripts/requirements/NAME.txt and prints its python
#
# Venvs live outside the work tree under ${MLXK_FIXTURES:-$HOME/.cache/mlxk-fixtures}/venvs/NAME,
# so CI and later checkouts reuse them. A venv is rebuilt only when its requirements file
# changes (a stamp inside it holds the file's sha256). Progress goes to stderr; stdout
# carries only the python path. One builder at a time per venv (flock).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
name=${1:?usage: scripts/venv.sh NAME}
req="$root/scripts/requirements/$name.txt"
[ -f "$req" ] || { echo "[venv] no requirements file $req" >&2; exit 2; }
base="${MLXK_FIXTURES:-$HOME/.cache/mlxk-fixtures}/venvs"
venv="$base/$name"
mkdir -p "$base"
exec 8>"$base/.$name.lock"
flock 8
want=$(sha256sum "$req" | cut -d' ' -f1)
if [ -x "$venv/bin/python" ] && [ "$(cat "$venv/.mlxk-stamp" 2>/dev/null)" = "$want" ]; then
  printf '%s\n' "$venv/bin/python"
  exit 0
fi
t0=$SECONDS
echo "[venv] $name: installing $(grep -cvE '^\s*(#|$)' "$req") packages into $venv (about a minute)" >&2
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input -r "$req" >&2
printf '%s' "$want" > "$venv/.mlxk-stamp"
echo "[venv] $name ready in $((SECONDS - t0)) s" >&2
printf '%s\n' "$venv/bin/python"
