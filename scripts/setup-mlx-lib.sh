#!/usr/bin/env bash
# Puts libmlx.so (from the pip mlx-cpu 0.32.2 wheel) at .deps/mlx-lib, with the
# wheel's reference BLAS/LAPACK replaced by links to the system's OpenBLAS
# (~50x faster sgemm). mlxk-run is linked with an rpath to this directory
# (build.rs), so the built binary finds libmlx without LD_LIBRARY_PATH.
# Linux only; on macOS mlx-sys builds MLX with Metal itself.
set -euo pipefail
[ "$(uname -s)" = Linux ] || exit 0
root=$(cd "$(dirname "$0")/.." && pwd)
dest="$root/.deps/mlx-lib"
site=$(python3 -c "import importlib.metadata as m; print(m.distribution('mlx-cpu').locate_file(''))")
[ -f "$site/mlx/lib/libmlx.so" ] || { echo "mlx-cpu is not installed: scripts/fixtures.sh python" >&2; exit 1; }
stamp="$dest/.source"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$site" ] && [ -f "$dest/mlx/lib/libmlx.so" ]; then
  exit 0
fi
rm -rf "$dest.tmp"
mkdir -p "$dest.tmp/mlx/lib" "$dest.tmp/mlx_cpu.libs"
cp "$site/mlx/lib/libmlx.so" "$dest.tmp/mlx/lib/"
cp "$site"/mlx_cpu.libs/* "$dest.tmp/mlx_cpu.libs/"
arch_dir="/usr/lib/$(uname -m)-linux-gnu"
for lib in "$dest.tmp"/mlx_cpu.libs/libblas-* "$dest.tmp"/mlx_cpu.libs/liblapack-*; do
  case "$(basename "$lib")" in libblas-*) sys=libblas.so.3 ;; *) sys=liblapack.so.3 ;; esac
  if [ -e "$arch_dir/$sys" ]; then
    ln -sf "$arch_dir/$sys" "$lib"
  fi
done
printf '%s' "$site" > "$dest.tmp/.source"
rm -rf "$dest"
mv "$dest.tmp" "$dest"
