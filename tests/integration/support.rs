//! Shared test helpers: start the real binary, find the real peers.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
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

/// Which index backend a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    /// The embedded default: an SQLite file in the data directory.
    Sqlite,
    /// A fresh database on the PostgreSQL server of `make test`.
    Postgres,
}

/// A fresh index database for one test; PostgreSQL ones are dropped at the
/// end.
pub struct TestDb {
    /// `STRATA_STORAGE_DATABASE_URL` to set, if not the embedded default.
    pub url: Option<String>,
    admin: Option<(String, String)>,
}

static NEXT_DB: AtomicU64 = AtomicU64::new(0);

impl TestDb {
    pub fn new(db: Db) -> TestDb {
        match db {
            Db::Sqlite => TestDb {
                url: None,
                admin: None,
            },
            Db::Postgres => {
                let admin = std::env::var("STRATA_TEST_POSTGRES_URL").expect(
                    "STRATA_TEST_POSTGRES_URL unset: run `make test` (it starts PostgreSQL) \
                     or export the URL printed by scripts/test-postgres.sh",
                );
                let name = format!(
                    "strata_t{}_{}",
                    std::process::id(),
                    NEXT_DB.fetch_add(1, Ordering::Relaxed)
                );
                admin_sql(&admin, &format!("CREATE DATABASE {name}"));
                let (base, _) = admin.rsplit_once('/').unwrap();
                TestDb {
                    url: Some(format!("{base}/{name}")),
                    admin: Some((admin, name)),
                }
            }
        }
    }

    /// Environment for a `strata` process using this database.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        self.url
            .iter()
            .map(|u| ("STRATA_STORAGE_DATABASE_URL", u.clone()))
            .collect()
    }

    /// The index URL, given the data directory for SQLite.
    pub fn index_url(&self, data_dir: &Path) -> String {
        self.url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("index.sqlite").display()))
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin, name)) = &self.admin {
            admin_sql(
                admin,
                &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            );
        }
    }
}

fn admin_sql(admin_url: &str, sql: &str) {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let sql = sql.to_owned();
    block_on(async move {
        let mut conn = sqlx::AnyConnection::connect(admin_url).await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
    });
}

/// Runs a future to completion on a fresh current-thread runtime.
pub fn block_on<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

/// A `strata serve` process on a free port in a fresh directory.
pub struct Server {
    child: Child,
    pub port: u16,
    pub db: TestDb,
    _dir: tempfile::TempDir,
    log: Arc<Mutex<String>>,
}

impl Server {
    /// Starts the node on the SQLite index with `extra` arguments and
    /// environment, and waits for its "listening on" line.
    pub fn start(extra: &[&str], env: &[(&str, &str)]) -> Server {
        Server::start_on(Db::Sqlite, extra, env)
    }

    /// Starts the node on the given index backend.
    pub fn start_on(db: Db, extra: &[&str], env: &[(&str, &str)]) -> Server {
        let dir = tempfile::tempdir().unwrap();
        Server::start_in(dir, TestDb::new(db), extra, env)
    }

    /// Starts the node in an existing directory and database (a restart).
    pub fn start_in(
        dir: tempfile::TempDir,
        db: TestDb,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Server {
        let mut command = Command::new(strata_bin());
        command
            .args(["serve", "--port", "0", "--data-dir", "var"])
            .args(extra)
            .current_dir(dir.path())
            .env("RUST_LOG", "info")
            .envs(db.env())
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
            db,
            _dir: dir,
            log,
        }
    }

    /// The node's index URL.
    pub fn index_url(&self) -> String {
        self.db.index_url(&self.data_dir())
    }

    /// Kills the process with SIGKILL and returns its directory and database
    /// for a restart.
    pub fn kill9(mut self) -> (tempfile::TempDir, TestDb) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let dir = tempfile::tempdir().unwrap();
        let dir = std::mem::replace(&mut self._dir, dir);
        let db = std::mem::replace(&mut self.db, TestDb::new(Db::Sqlite));
        (dir, db)
    }

    /// The node's data directory.
    pub fn data_dir(&self) -> PathBuf {
        self._dir.path().join("var")
    }

    /// Everything the server logged so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Waits up to five seconds until the log contains `needle` (the server
    /// logs asynchronously).
    pub fn wait_for_log(&self, needle: &str) -> String {
        self.wait_for_log_within(needle, 5)
    }

    /// Waits up to `seconds` until the log contains `needle`.
    pub fn wait_for_log_within(&self, needle: &str, seconds: u64) -> String {
        for _ in 0..seconds * 20 {
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
    run_within(command, 60)
}

/// Runs a command to completion with a timeout of `seconds`.
pub fn run_within(command: &mut Command, seconds: u64) -> Output {
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
    rx.recv_timeout(Duration::from_secs(seconds))
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

/// A free TCP port on the loopback interface (for peers that cannot bind
/// port 0 and report it).
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Waits up to ten seconds until something accepts connections on `port`
/// (pynetdicom says "listening" before it has bound its socket).
pub fn wait_for_port(port: u16) {
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("nothing listens on port {port}");
}

/// The Orthanc executable (Debian's `orthanc` package puts it in /usr/sbin,
/// which is not on every PATH).
pub fn orthanc_bin() -> PathBuf {
    let on_path = Command::new("sh")
        .args(["-c", "command -v Orthanc"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    let path = on_path.unwrap_or_else(|| PathBuf::from("/usr/sbin/Orthanc"));
    assert!(
        path.is_file(),
        "Orthanc not found: apt-get install -y orthanc"
    );
    path
}

/// An Orthanc server on free ports with a fresh storage directory, killed
/// when dropped. Its REST API answers on loopback only, without
/// authentication.
pub struct Orthanc {
    child: Child,
    pub ae_title: &'static str,
    pub dicom_port: u16,
    pub http_port: u16,
    dir: tempfile::TempDir,
}

impl Orthanc {
    pub fn start() -> Orthanc {
        let bin = orthanc_bin();
        let dir = tempfile::tempdir().unwrap();
        let (dicom_port, http_port) = (free_port(), free_port());
        let storage = dir.path().join("storage");
        let config = serde_json::json!({
            "Name": "STRATA-TEST",
            "DicomAet": "ORTHANC",
            "DicomPort": dicom_port,
            "HttpPort": http_port,
            "StorageDirectory": storage,
            "IndexDirectory": storage,
            "StorageCompression": false,
            "RemoteAccessAllowed": false,
            "AuthenticationEnabled": false,
            "DicomCheckCalledAet": false,
            "Plugins": [],
        });
        let config_path = dir.path().join("orthanc.json");
        std::fs::write(&config_path, config.to_string()).unwrap();
        let log = std::fs::File::create(dir.path().join("orthanc.log")).unwrap();
        let child = Command::new(bin)
            .arg(&config_path)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("spawn Orthanc");
        let orthanc = Orthanc {
            child,
            ae_title: "ORTHANC",
            dicom_port,
            http_port,
            dir,
        };
        orthanc.wait_until_up();
        orthanc
    }

    fn wait_until_up(&self) {
        for _ in 0..300 {
            if self.try_get("/system").is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("Orthanc did not start:\n{}", self.log());
    }

    /// Everything Orthanc logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("orthanc.log")).unwrap_or_default()
    }

    fn try_get(&self, path: &str) -> Option<Vec<u8>> {
        let url = format!("http://127.0.0.1:{}{path}", self.http_port);
        let out = run(Command::new("curl").args(["-sf", "--max-time", "30", &url]));
        out.status.success().then_some(out.stdout)
    }

    /// GET on the REST API; panics with Orthanc's log on failure.
    pub fn get(&self, path: &str) -> Vec<u8> {
        self.try_get(path)
            .unwrap_or_else(|| panic!("GET {path} failed:\n{}", self.log()))
    }

    /// GET of a JSON resource.
    pub fn get_json(&self, path: &str) -> serde_json::Value {
        serde_json::from_slice(&self.get(path)).unwrap()
    }
}

impl Drop for Orthanc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
