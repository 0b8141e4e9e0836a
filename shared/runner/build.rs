//! Where MLX is a shared library (Linux: libmlx.so from the mlx-cpu wheel, copied by the
//! patched mlx-sys into its OUT_DIR), give this crate's tests and examples an rpath to it,
//! so they run when started directly, and pass the directory on as
//! `DEP_MLXK_MLX_LIBDIR` to the package that owns the binaries.

fn main() {
    println!("cargo:rerun-if-env-changed=DEP_MLX_LIBDIR");
    let Some(libdir) = std::env::var_os("DEP_MLX_LIBDIR") else {
        return; // macOS: MLX is linked statically
    };
    let libdir = libdir.to_string_lossy();
    println!("cargo:rustc-link-arg-tests=-Wl,-rpath,{libdir}");
    println!("cargo:rustc-link-arg-examples=-Wl,-rpath,{libdir}");
    println!("cargo:libdir={libdir}");
}
