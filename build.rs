//! Gives the binaries that run models (mlxk-run, mlxk-audio, mlxk-vision) an rpath to libmlx on platforms where MLX is a shared
//! library from the mlx-cpu wheel (see scripts/setup-mlx-lib.sh), so the
//! binary runs without LD_LIBRARY_PATH: first `<prefix>/lib/mlxk/mlx/lib`
//! beside an installed binary (scripts/install.sh copies `.deps/mlx-lib`
//! there, keeping libmlx's own `$ORIGIN/../../mlx_cpu.libs` for BLAS), then
//! the build tree's copy.

use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-env-changed=MLXK_MLX_LIBDIR");
    let target_os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if std::env::var_os("CARGO_FEATURE_MLX").is_none() || target_os == "macos" || target_os == "ios"
    {
        return;
    }
    let libdir = std::env::var_os("MLXK_MLX_LIBDIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap())
                .join(".deps/mlx-lib/mlx/lib")
        });
    if !libdir.join("libmlx.so").exists() {
        println!(
            "cargo:warning=no libmlx.so in {}: run scripts/setup-mlx-lib.sh, or the binaries that run models will need LD_LIBRARY_PATH",
            libdir.display()
        );
    }
    for bin in ["mlxk-run", "mlxk-audio", "mlxk-vision"] {
        println!(
            "cargo:rustc-link-arg-bin={bin}=-Wl,-rpath,$ORIGIN/../lib/mlxk/mlx/lib:{}",
            libdir.display()
        );
    }
}
