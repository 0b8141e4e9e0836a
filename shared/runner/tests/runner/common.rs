use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

use mlxk_runner::{LoadOptions, Runner};

/// Serializes MLX work across the tests of this binary.
pub fn mlx_lock() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

pub fn fixtures_dir() -> PathBuf {
    match std::env::var_os("MLXK_FIXTURES") {
        Some(dir) => PathBuf::from(dir),
        None => {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/mlxk-fixtures")
        }
    }
}

/// The interpreter of the reference tools: `PYTHON`, else the project's `test`
/// venv (scripts/venv.sh test), else `python3`.
pub fn python() -> String {
    if let Ok(py) = std::env::var("PYTHON") {
        return py;
    }
    let venv = fixtures_dir().join("venvs/test/bin/python");
    if venv.exists() {
        return venv.to_string_lossy().into_owned();
    }
    "python3".into()
}

/// The interpreter of the project venv `name` (scripts/venv.sh NAME), else [`python`].
pub fn venv_python(name: &str) -> String {
    let venv = fixtures_dir().join("venvs").join(name).join("bin/python");
    if std::env::var_os("PYTHON").is_none() && venv.exists() {
        return venv.to_string_lossy().into_owned();
    }
    python()
}

/// The fixture model `name`, or `None` after printing why the test is skipped.
/// Under CI (`CI` set) a missing fixture fails the test: the setup script
/// builds every fixture, so its absence is a broken setup, not a reason to pass.
pub fn fixture(name: &str, script_arg: &str) -> Option<PathBuf> {
    let dir = fixtures_dir().join("models").join(name);
    if dir.join("config.json").is_file() {
        Some(dir)
    } else if std::env::var_os("CI").is_some() {
        panic!(
            "fixture {} is absent under CI; scripts/fixtures.sh {script_arg} should have built it",
            dir.display()
        );
    } else {
        eprintln!(
            "SKIPPED: fixture {} is absent; run `scripts/fixtures.sh {script_arg}` to build it",
            dir.display()
        );
        None
    }
}

pub fn load(dir: &std::path::Path) -> Runner {
    Runner::load(dir, &LoadOptions::default())
        .unwrap_or_else(|e| panic!("loading {}: {e}", dir.display()))
}

/// Reports why a test cannot check anything here: a failure under CI (where the
/// setup provides every reference tool), a printed skip elsewhere.
pub fn skip(why: &str) {
    if std::env::var_os("CI").is_some() {
        panic!("{why}");
    }
    eprintln!("SKIPPED: {why}");
}
