#!/usr/bin/env bash
# Installs the release binaries, man pages and completions under PREFIX (default
# ~/.local: binaries in ~/.local/bin, man pages in ~/.local/share/man/man1, completions
# under ~/.local/share/{bash-completion,zsh,fish}). On Linux, libmlx goes to
# PREFIX/lib/mlxk/ where the MLX binaries' rpath looks first, so the installed tools need
# no LD_LIBRARY_PATH and no build tree. Builds first when the binaries are missing or stale.
#   scripts/install.sh [PREFIX]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
prefix=${1:-${PREFIX:-$HOME/.local}}
cd "$root"
LOG_TAG=install
. scripts/lib.sh
# shellcheck disable=SC2046
cargo build --release --workspace --bins $(cargo_quiet_flag)
mkdir -p "$prefix/bin" "$prefix/share/man/man1" \
  "$prefix/share/bash-completion/completions" "$prefix/share/zsh/site-functions" \
  "$prefix/share/fish/vendor_completions.d"
bins=()
for dir in bins/*/; do
  bin=$(basename "$dir")
  [ -x "target/release/$bin" ] || continue
  bins+=("$bin")
  install -m 755 "target/release/$bin" "$prefix/bin/$bin.tmp"
  mv -f "$prefix/bin/$bin.tmp" "$prefix/bin/$bin"
  install -m 644 "man/$bin.1" "$prefix/share/man/man1/$bin.1"
  install -m 644 "completions/$bin.bash" "$prefix/share/bash-completion/completions/$bin"
  install -m 644 "completions/_$bin" "$prefix/share/zsh/site-functions/_$bin"
  install -m 644 "completions/$bin.fish" "$prefix/share/fish/vendor_completions.d/$bin.fish"
done
if [ -d .deps/mlx-lib ]; then
  rm -rf "$prefix/lib/mlxk.tmp"
  mkdir -p "$prefix/lib/mlxk.tmp"
  cp -a .deps/mlx-lib/mlx_cpu.libs "$prefix/lib/mlxk.tmp/"
  mkdir -p "$prefix/lib/mlxk.tmp/mlx"
  cp -a .deps/mlx-lib/mlx/lib "$prefix/lib/mlxk.tmp/mlx/"
  rm -rf "$prefix/lib/mlxk"
  mv "$prefix/lib/mlxk.tmp" "$prefix/lib/mlxk"
fi
log "installed ${bins[*]} into $prefix/bin, man pages and completions under $prefix/share"
