#!/usr/bin/env bash
# Installs the release binaries, man pages and completions under PREFIX
# (default ~/.local). On Linux, libmlx goes to PREFIX/lib/mlxk/ where
# mlxk-run's rpath looks first, so the installed tools need no
# LD_LIBRARY_PATH and no build tree.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
prefix=${1:-${PREFIX:-$HOME/.local}}
cd "$root"
cargo build --release --quiet
mkdir -p "$prefix/bin" "$prefix/share/man/man1" \
  "$prefix/share/bash-completion/completions" "$prefix/share/zsh/site-functions" \
  "$prefix/share/fish/vendor_completions.d"
for bin in mlxk-list mlxk-pull mlxk-run; do
  install -m 755 "target/release/$bin" "$prefix/bin/$bin"
  install -m 644 "man/$bin.1" "$prefix/share/man/man1/$bin.1"
  install -m 644 "completions/$bin.bash" "$prefix/share/bash-completion/completions/$bin"
  install -m 644 "completions/_$bin" "$prefix/share/zsh/site-functions/_$bin"
  install -m 644 "completions/$bin.fish" "$prefix/share/fish/vendor_completions.d/$bin.fish"
done
if [ -d .deps/mlx-lib ]; then
  rm -rf "$prefix/lib/mlxk"
  mkdir -p "$prefix/lib/mlxk"
  cp -a .deps/mlx-lib/. "$prefix/lib/mlxk/"
fi
echo "installed into $prefix" >&2
