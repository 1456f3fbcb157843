//! Shared test helpers: start the real binary, find the real peers.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

/// Path of the binary under test.
pub fn strata_bin() -> &'static str {
    env!("CARGO_BIN_EXE_strata")
}

/// The repository root.
pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The real test corpus (`make testdata`).
pub fn corpus() -> PathBuf {
    let root = std::env::var_os("STRATA_TESTDATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".testdata/corpus"));
    assert!(
        root.join("manifest.json").is_file(),
        "test corpus missing at {}: run make testdata",
        root.display()
    );
    root
}

/// The Python interpreter with pynetdicom (`make test` provisions it).
pub fn python() -> PathBuf {
    let path = std::env::var_os("STRATA_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".venv/bin/python"));
    assert!(
        path.is_file(),
        "{} not found: run `make venv` (or `make test`)",
        path.display()
    );
    path
}

/// Asserts that an external tool (DCMTK) is installed and returns its name.
pub fn tool(name: &'static str) -> &'static str {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(found, "{name} not found: apt-get install -y dcmtk");
    name
}

/// A `strata serve` process on a free port in a fresh directory.
pub struct Server {
    child: Child,
    pub port: u16,
    _dir: tempfile::TempDir,
    log: Arc<Mutex<String>>,
}

impl Server {
    /// Starts the node with `extra` arguments and environment, and waits for
    /// its "listening on" line.
    pub fn start(extra: &[&str], env: &[(&str, &str)]) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let mut command = Command::new(strata_bin());
        command
            .args(["serve", "--port", "0", "--data-dir", "var"])
            .args(extra)
            .current_dir(dir.path())
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("spawn strata serve");
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let (port_tx, port_rx) = mpsc::channel();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(port) = listening_port(&line) {
                    let _ = port_tx.send(port);
                }
                sink.lock().unwrap().push_str(&(line + "\n"));
            }
        });
        let port = port_rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| {
                panic!("server did not start:\n{}", log.lock().unwrap());
            });
        Server {
            child,
            port,
            _dir: dir,
            log,
        }
    }

    /// The node's data directory.
    pub fn data_dir(&self) -> PathBuf {
        self._dir.path().join("var")
    }

    /// Everything the server logged so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Waits until the log contains `needle` (the server logs asynchronously).
    pub fn wait_for_log(&self, needle: &str) -> String {
        for _ in 0..100 {
            let log = self.log();
            if log.contains(needle) {
                return log;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("log never contained {needle:?}:\n{}", self.log());
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(mut self) -> (std::process::ExitStatus, String) {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let status = self.child.wait().unwrap();
        std::thread::sleep(Duration::from_millis(100));
        (status, self.log())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn listening_port(line: &str) -> Option<u16> {
    let rest = line.split("listening on ").nth(1)?;
    let addr = rest.split(|c: char| c.is_whitespace() || c == '"').next()?;
    addr.rsplit(':').next()?.parse().ok()
}

/// Runs a command to completion with a timeout of one minute.
pub fn run(command: &mut Command) -> Output {
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    rx.recv_timeout(Duration::from_secs(60))
        .expect("command timed out")
        .expect("command failed to run")
}

/// stdout and stderr of an output, for messages.
pub fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}
