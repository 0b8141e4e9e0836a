//! The loopback servers and the Python reference tools, started by the tests.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;

use serde_json::{json, Value};

use super::{wait_for, CONFIGS, MINILM};
use crate::harness::TestCache;

const HUB_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/hub");

/// The real interpreter (not a pyenv shim, which needs the user's HOME).
pub fn python() -> String {
    static PY: OnceLock<String> = OnceLock::new();
    PY.get_or_init(|| {
        let py = crate::harness::fixtures::python();
        let out = Command::new(&py)
            .args(["-c", "import sys; print(sys.executable)"])
            .output()
            .unwrap_or_else(|e| panic!("{py}: {e}: run scripts/setup-tests.sh"));
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    })
    .clone()
}

/// A Python console script (`hf`, `mlxk`) run through the real interpreter.
pub fn python_tool(cache: &TestCache, module: &str) -> Command {
    let mut cmd = cache.command(&python());
    cmd.arg("-c").arg(format!(
        "import sys; from {module} import main; sys.argv[0] = 'tool'; sys.exit(main())"
    ));
    cmd
}

/// Git repositories for the mirrors, built once per machine from the real
/// fixture (make_repo.py is deterministic) under the fixtures cache.
pub fn mirrors() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = crate::harness::fixtures::dir().join("pull-mirrors");
        let stamp = dir.join(".built");
        if !stamp.exists() {
            let tmp = dir.with_extension(format!("tmp{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&tmp);
            let src = super::minilm_source();
            let make = |args: &[&str]| {
                let st = Command::new(python())
                    .arg(format!("{HUB_DIR}/make_repo.py"))
                    .arg(&src)
                    .arg(&tmp)
                    .args(args)
                    .stdout(Stdio::null())
                    .status()
                    .expect("python3");
                assert!(st.success(), "make_repo.py {args:?}");
            };
            make(&[MINILM]);
            make(&[
                CONFIGS,
                "README.md",
                "config.json",
                "tokenizer_config.json",
                "special_tokens_map.json",
                "1_Pooling/config.json",
            ]);
            std::fs::write(tmp.join(".built"), b"").unwrap();
            let _ = std::fs::remove_dir_all(&dir);
            if std::fs::rename(&tmp, &dir).is_err() {
                // Another test process built it meanwhile.
                let _ = std::fs::remove_dir_all(&tmp);
            }
        }
        dir
    })
}

/// A child process in its own process group, killed (group and all) on drop.
pub struct Server {
    child: Child,
    pub endpoint: String,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        // SAFETY: signals our own child's process group.
        unsafe { libc::kill(-(self.child.id() as i32), libc::SIGKILL) };
        let _ = self.child.wait();
    }
}

fn spawn(mut cmd: Command) -> Child {
    use std::os::unix::process::CommandExt;
    cmd.process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start server")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One HTTP/1.1 request on a fresh connection; (status, body).
pub fn http(endpoint: &str, method: &str, path: &str, body: &str) -> (u16, String) {
    let addr = endpoint.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// PyPI `olah` in offline mode, serving the mirrors.
pub fn olah() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = dir.path().join("olah.toml");
    std::fs::write(
        &config,
        format!(
            "[basic]\nhost = \"127.0.0.1\"\nport = {port}\nrepos-path = \"{}\"\nmirrors-path = [\"{}\"]\n[accessibility]\noffline = true\n",
            dir.path().join("repos").display(),
            mirrors().display()
        ),
    )
    .unwrap();
    let mut cmd = Command::new(python());
    cmd.args([
        "-c",
        "import sys; from olah.server import cli; sys.argv[0] = 'olah-cli'; sys.exit(cli())",
    ])
    .arg("-c")
    .arg(&config)
    .current_dir(dir.path());
    let server = Server {
        child: spawn(cmd),
        endpoint: format!("http://127.0.0.1:{port}"),
        _dir: dir,
    };
    let probe = format!("/api/models/{MINILM}/revision/main");
    wait_for("olah to answer", || {
        TcpStream::connect(("127.0.0.1", port)).is_ok()
            && http(&server.endpoint, "GET", &probe, "").0 == 200
    });
    server
}

/// tests/hub/fault_hub.py, with its control endpoint.
pub struct FaultHub(pub Server);

impl FaultHub {
    pub fn start() -> Self {
        Self::serving(mirrors())
    }

    /// A hub with no repositories but those created through its API (uploads).
    pub fn empty() -> Self {
        let none = tempfile::tempdir().unwrap();
        let hub = Self::serving(none.path());
        drop(none); // read at start-up only
        hub
    }

    fn serving(mirrors: &Path) -> Self {
        Self::serving_with(mirrors, None)
    }

    /// An empty hub that keeps LFS objects in `other`'s store: the storage
    /// server on another origin that `other` hands upload hrefs to.
    pub fn storage_for(other: &FaultHub) -> Self {
        let none = tempfile::tempdir().unwrap();
        let hub = Self::serving_with(none.path(), Some(&other.store()));
        drop(none);
        hub
    }

    /// Where this hub keeps uploaded LFS objects.
    pub fn store(&self) -> PathBuf {
        self.0._dir.path().join("store")
    }

    fn serving_with(mirrors: &Path, store: Option<&Path>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port_file = dir.path().join("port");
        let store = store.map_or_else(|| dir.path().join("store"), Path::to_path_buf);
        let mut cmd = Command::new(python());
        cmd.arg(format!("{HUB_DIR}/fault_hub.py"))
            .arg(mirrors)
            .arg(&port_file)
            .arg(store);
        let child = spawn(cmd);
        wait_for("fault_hub.py to listen", || port_file.exists());
        let port = std::fs::read_to_string(&port_file).unwrap();
        FaultHub(Server {
            child,
            endpoint: format!("http://127.0.0.1:{}", port.trim()),
            _dir: dir,
        })
    }

    pub fn endpoint(&self) -> &str {
        &self.0.endpoint
    }

    pub fn control(&self, what: &str, body: Value) -> Value {
        let (status, text) = http(
            self.endpoint(),
            "POST",
            &format!("/_control/{what}"),
            &body.to_string(),
        );
        assert_eq!(status, 200, "control {what}: {text}");
        serde_json::from_str(&text).unwrap()
    }

    pub fn fault(&self, fault: Value) {
        self.control("fault", fault);
    }

    pub fn token(&self, token: &str) {
        self.control("token", json!({ "token": token }));
    }

    pub fn release(&self) {
        self.control("release", json!({}));
    }

    pub fn reset(&self) {
        self.control("reset", json!({}));
    }

    pub fn stats(&self) -> Value {
        let (status, text) = http(self.endpoint(), "GET", "/_control/stats", "");
        assert_eq!(status, 200);
        serde_json::from_str(&text).unwrap()
    }

    /// Bytes of `file` sent since the last reset.
    pub fn sent(&self, file: &str) -> u64 {
        self.stats()["bytes_sent"][file].as_u64().unwrap_or(0)
    }

    /// Requests of `method` since the last reset whose path ends with `suffix`.
    pub fn requests(&self, method: &str, suffix: &str) -> Vec<Value> {
        self.stats()["requests"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["method"] == method && r["path"].as_str().unwrap().ends_with(suffix))
            .cloned()
            .collect()
    }
}

impl Drop for FaultHub {
    fn drop(&mut self) {
        // Let held responses go so no thread lingers; the server is killed next.
        let _ = std::panic::catch_unwind(|| {
            let _ = TcpStream::connect(self.endpoint().trim_start_matches("http://"))
                .map(|_| http(self.endpoint(), "POST", "/_control/release", "{}"));
        });
    }
}

/// `huggingface_hub.snapshot_download` into `cache` (the reference client).
pub fn hf_snapshot(cache: &TestCache, endpoint: &str, repo: &str) {
    let script = format!(
        "from huggingface_hub import snapshot_download\nsnapshot_download({repo:?}, cache_dir={:?})",
        cache.hub().display().to_string()
    );
    let out = cache
        .command(&python())
        .env("HF_ENDPOINT", endpoint)
        .env("HF_HUB_DISABLE_TELEMETRY", "1")
        .env("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        .arg("-c")
        .arg(script)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "snapshot_download: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// tests/hub/cache_manifest.py: blobs, links, refs and trees of a cache.
pub fn manifest(cache: &TestCache) -> Value {
    let out = Command::new(python())
        .arg(format!("{HUB_DIR}/cache_manifest.py"))
        .arg(cache.hub())
        .output()
        .expect("python3");
    assert!(out.status.success());
    serde_json::from_slice(&out.stdout).unwrap()
}

/// tests/hub/hostile_hub.py: a server that attacks its client, and logs the
/// `Authorization` and `User-Agent` of every request it gets.
pub struct HostileHub(pub Server);

/// The repository the hostile hub serves, and its commit.
pub const EVIL: &str = "evil/model";
pub const EVIL_DIR: &str = "models--evil--model";
pub const EVIL_COMMIT: &str = "5eedc0de5eedc0de5eedc0de5eedc0de5eedc0de";

impl HostileHub {
    pub fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port_file = dir.path().join("port");
        let mut cmd = Command::new(python());
        cmd.arg(format!("{HUB_DIR}/hostile_hub.py")).arg(&port_file);
        let child = spawn(cmd);
        wait_for("hostile_hub.py to listen", || port_file.exists());
        let port = std::fs::read_to_string(&port_file).unwrap();
        HostileHub(Server {
            child,
            endpoint: format!("http://127.0.0.1:{}", port.trim()),
            _dir: dir,
        })
    }

    pub fn endpoint(&self) -> &str {
        &self.0.endpoint
    }

    /// Sets the attack (see the script's doc).
    pub fn attack(&self, attack: Value) {
        let (status, text) = http(
            self.endpoint(),
            "POST",
            "/_control/attack",
            &attack.to_string(),
        );
        assert_eq!(status, 200, "{text}");
    }

    pub fn reset(&self) {
        assert_eq!(
            http(self.endpoint(), "POST", "/_control/reset", "{}").0,
            200
        );
    }

    /// Every request so far: {method, path, authorization, user_agent}.
    pub fn log(&self) -> Vec<Value> {
        let (status, text) = http(self.endpoint(), "GET", "/_control/log", "");
        assert_eq!(status, 200);
        serde_json::from_str(&text).unwrap()
    }

    /// Asserts that no request this server got carried a token.
    pub fn saw_no_token(&self) {
        let log = self.log();
        assert!(!log.is_empty(), "the foreign server was never asked");
        for r in &log {
            assert!(r["authorization"].is_null(), "the token leaked: {r}");
        }
    }
}
