//! mlxk-pull against real Hub-protocol servers on loopback: the olah mirror
//! (PyPI `olah`) and tests/hub/fault_hub.py, which misbehaves on purpose.
//! The official client (`huggingface_hub`) is the reference for the cache
//! layout. `scripts/setup-tests.sh` installs what these tests need.

mod contract;
mod faults;
mod hostile;
mod import;
mod mirror;
pub mod servers;
mod trapped;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::harness::{fixtures, Run, TestCache};

pub const BIN: &str = env!("CARGO_BIN_EXE_mlxk-pull");
pub const MINILM: &str = "sentence-transformers/all-MiniLM-L6-v2";
pub const MINILM_DIR: &str = "models--sentence-transformers--all-MiniLM-L6-v2";
/// Its commit in the test mirror (make_repo.py commits deterministically).
pub const MINILM_COMMIT: &str = "282a77fb48cf68f3e94110e803e6cab13f54cbc6";
pub const SAFETENSORS_SHA256: &str =
    "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db";
pub const SAFETENSORS_SIZE: u64 = 90_868_376;
/// A few real files of the same model, without weights (an unhealthy repo).
pub const CONFIGS: &str = "mlxk-fixtures/minilm-config";

/// The wire format as this test reads it (declared here, not imported, to catch drift).
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Msg {
    Progress {
        repo: String,
        file: String,
        bytes: u64,
        total_bytes: Option<u64>,
    },
    Result(PullResult),
    Error {
        code: String,
        message: String,
        line: Option<u64>,
    },
    Summary {
        total: u64,
        ok: u64,
        failed: u64,
        exit_code: i32,
    },
}

#[derive(Debug, Deserialize)]
pub struct PullResult {
    pub name: String,
    pub hash: Option<String>,
    pub download_status: String,
    pub files: u64,
    pub bytes: u64,
    pub health: Option<String>,
    pub reason: Option<String>,
    pub path: Option<String>,
}

pub fn messages(run: &Run) -> Vec<Msg> {
    run.stdout()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad NDJSON line {l:?}: {e}")))
        .collect()
}

pub fn results(run: &Run) -> Vec<PullResult> {
    messages(run)
        .into_iter()
        .filter_map(|m| match m {
            Msg::Result(r) => Some(r),
            _ => None,
        })
        .collect()
}

/// The one result of a single-repo run.
pub fn result(run: &Run) -> PullResult {
    let mut all = results(run);
    assert_eq!(
        all.len(),
        1,
        "stdout:\n{}\nstderr:\n{}",
        run.stdout(),
        run.stderr()
    );
    all.remove(0)
}

/// `mlxk-pull` with this cache and `endpoint`, not yet started.
pub fn pull_cmd(cache: &TestCache, endpoint: &str, args: &[&str]) -> Command {
    let mut cmd = cache.command(BIN);
    cmd.env("HF_ENDPOINT", endpoint)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

pub fn pull(cache: &TestCache, endpoint: &str, args: &[&str]) -> Run {
    Run(pull_cmd(cache, endpoint, args)
        .output()
        .expect("run mlxk-pull"))
}

/// Waits (on events, polled) until `cond` holds; panics with `what` after a generous deadline.
pub fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits for a child to exit (its exit is the event; its output is read meanwhile),
/// with a deadline, so a hang fails the test instead of CI.
pub fn wait_child(child: Child, what: &str) -> Run {
    let pid = child.id();
    let (done, exited) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(child.wait_with_output());
    });
    match exited.recv_timeout(Duration::from_secs(120)) {
        Ok(output) => Run(output.expect("wait for the child")),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            panic!("{what} did not finish: {:?}", exited.recv().ok());
        }
    }
}

pub fn repo_path(cache: &TestCache, dir: &str) -> PathBuf {
    cache.hub().join(dir)
}

/// Every path under `dir`, relative, sorted (to show a cache did not change).
pub fn listing(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            out.push(p.strip_prefix(root).unwrap().display().to_string());
            if e.file_type().unwrap().is_dir() {
                walk(root, &p, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// The real fixture the mirrors serve.
pub fn minilm_source() -> PathBuf {
    fixtures::minilm_dir()
}

/// Runs `cmd` to its end and returns it with its peak resident memory in
/// KiB (Linux `ru_maxrss`), measured for this one child by `wait4`.
// The child is reaped by `wait4` (for its rusage), which clippy cannot see.
#[allow(clippy::zombie_processes)]
pub fn run_measured(mut cmd: Command) -> (Run, u64) {
    use std::io::Read;
    use std::os::unix::process::ExitStatusExt;
    let mut child = cmd.spawn().expect("start the child");
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let stdout = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = out.read_to_end(&mut b);
        b
    });
    let stderr = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = err.read_to_end(&mut b);
        b
    });
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value of this plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits once for our own child; both pointers are valid for the call.
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as i32, "wait4");
    let output = std::process::Output {
        status: std::process::ExitStatus::from_raw(status),
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    };
    (Run(output), usage.ru_maxrss as u64)
}
