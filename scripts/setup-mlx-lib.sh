#!/usr/bin/env bash
# Puts MLX 0.32.2 (libmlx.so, headers, CMake files, from the pip mlx-cpu wheel in the
# project's `run` venv) at .deps/mlx-lib/mlx, with the wheel's reference BLAS/LAPACK
# replaced by links to the system's OpenBLAS (~50x faster sgemm).
# - mlx-sys builds mlx-c against this prefix (.cargo/config.toml sets MLX_PREFIX);
# - mlxk-run is linked with an rpath to .deps/mlx-lib/mlx/lib (build.rs), so the built
#   binary finds libmlx without LD_LIBRARY_PATH; scripts/install.sh copies it beside
#   installed binaries.
# Linux only; on macOS mlx-sys builds MLX with Metal itself.
set -euo pipefail
[ "$(uname -s)" = Linux ] || exit 0
root=$(cd "$(dirname "$0")/.." && pwd)
dest="$root/.deps/mlx-lib"
py=$(bash "$root/scripts/venv.sh" run)
site=$("$py" -c "import importlib.metadata as m; print(m.distribution('mlx-cpu').locate_file(''))")
[ -f "$site/mlx/lib/libmlx.so" ] || { echo "mlx-cpu is missing from $py's venv" >&2; exit 1; }
stamp="$dest/.source"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$site v2" ] && [ -f "$dest/mlx/lib/libmlx.so" ]; then
  exit 0
fi
rm -rf "$dest.tmp"
mkdir -p "$dest.tmp/mlx" "$dest.tmp/mlx_cpu.libs"
cp -r "$site/mlx/lib" "$site/mlx/include" "$site/mlx/share" "$dest.tmp/mlx/"
cp "$site"/mlx_cpu.libs/* "$dest.tmp/mlx_cpu.libs/"
arch_dir="/usr/lib/$(uname -m)-linux-gnu"
for lib in "$dest.tmp"/mlx_cpu.libs/libblas-* "$dest.tmp"/mlx_cpu.libs/liblapack-*; do
  case "$(basename "$lib")" in libblas-*) sys=libblas.so.3 ;; *) sys=liblapack.so.3 ;; esac
  if [ -e "$arch_dir/$sys" ]; then
    ln -sf "$arch_dir/$sys" "$lib"
  fi
done
printf '%s v2' "$site" > "$dest.tmp/.source"
rm -rf "$dest"
mv "$dest.tmp" "$dest"
