//! Shared helpers of the integration tests: a fresh database per test (a SQLite file in a
//! temporary folder, or a new PostgreSQL database dropped afterwards), and the real
//! `meshview` binary to run against it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use meshview::config::DatabaseUrl;
use meshview_store::connect::{Conn, Role};

/// The PostgreSQL server the tests create their databases on.
pub fn pg_admin_url() -> String {
    std::env::var("MESHVIEW_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A database that exists for one test.
pub struct TestDb {
    pub backend: Backend,
    pub dir: tempfile::TempDir,
    pub url: DatabaseUrl,
    /// The connection string as an operator would write it.
    pub url_string: String,
    pg_name: Option<String>,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

impl TestDb {
    pub async fn new(backend: Backend) -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        match backend {
            Backend::Sqlite => {
                let path = dir.path().join("packets.db");
                let url_string = format!("sqlite+aiosqlite:///{}", path.display());
                TestDb {
                    backend,
                    url: DatabaseUrl::parse(&url_string).unwrap(),
                    url_string,
                    dir,
                    pg_name: None,
                }
            }
            Backend::Postgres => {
                let name = format!(
                    "mv_test_{}_{}_{}",
                    std::process::id(),
                    COUNTER.fetch_add(1, Ordering::SeqCst),
                    rand_suffix()
                );
                let mut admin = admin_conn().await;
                admin
                    .execute(&format!("CREATE DATABASE {name}"))
                    .await
                    .expect("create test database");
                admin.close().await;
                let base = pg_admin_url();
                let server = base.rsplit_once('/').map(|(s, _)| s).unwrap_or(&base);
                let url_string = format!("{server}/{name}");
                TestDb {
                    backend,
                    url: DatabaseUrl::parse(&url_string).unwrap(),
                    url_string,
                    dir,
                    pg_name: Some(name),
                }
            }
        }
    }

    pub fn sqlite_path(&self) -> Option<&Path> {
        match &self.url {
            DatabaseUrl::Sqlite { path } => Some(path),
            DatabaseUrl::Postgres { .. } => None,
        }
    }

    /// A read-write connection for arranging and inspecting data.
    pub async fn conn(&self) -> Conn {
        Conn::open(&self.url, Role::Writer)
            .await
            .expect("open test database")
    }

    pub async fn exec(&self, sql: &str) {
        let mut c = self.conn().await;
        c.execute(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        c.close().await;
    }

    pub async fn scalar(&self, sql: &str) -> i64 {
        let mut c = self.conn().await;
        // Wrapped so INTEGER (int4) results read as i64 on PostgreSQL too.
        let v = c
            .scalar_i64(&format!("SELECT CAST(({sql}) AS BIGINT)"))
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        c.close().await;
        v
    }

    pub async fn count(&self, table: &str) -> i64 {
        self.scalar(&format!("SELECT count(*) FROM {table}")).await
    }

    pub async fn table_exists(&self, table: &str) -> bool {
        let sql = match self.backend {
            Backend::Sqlite => format!(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '{table}'"
            ),
            Backend::Postgres => format!(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = '{table}'"
            ),
        };
        self.scalar(&sql).await > 0
    }

    pub async fn column_exists(&self, table: &str, column: &str) -> bool {
        let sql = match self.backend {
            Backend::Sqlite => {
                format!("SELECT count(*) FROM pragma_table_info('{table}') WHERE name = '{column}'")
            }
            Backend::Postgres => format!(
                "SELECT count(*) FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = '{table}' AND column_name = '{column}'"
            ),
        };
        self.scalar(&sql).await > 0
    }

    pub async fn index_exists(&self, name: &str) -> bool {
        let sql = match self.backend {
            Backend::Sqlite => {
                format!(
                    "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = '{name}'"
                )
            }
            Backend::Postgres => format!(
                "SELECT count(*) FROM pg_indexes WHERE schemaname = current_schema() AND indexname = '{name}'"
            ),
        };
        self.scalar(&sql).await > 0
    }

    /// Runs the real binary against this database.
    pub fn command(&self, args: &[&str]) -> tokio::process::Command {
        self.command_of(Path::new(env!("CARGO_BIN_EXE_meshview")), args)
    }

    /// [`TestDb::command`] for another of the workspace's binaries.
    pub fn command_of(&self, exe: &Path, args: &[&str]) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(exe);
        cmd.args(args)
            .current_dir(self.dir.path())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("MESHVIEW_DATABASE__CONNECTION_STRING", &self.url_string)
            .env("MESHVIEW_LOG", "info,sqlx=warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        cmd
    }

    /// Runs the binary to completion.
    pub async fn run(&self, args: &[&str]) -> Output {
        run_command(self.command(args)).await
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(name) = self.pg_name.take() else {
            return;
        };
        // Drop runs outside async context: use a small runtime on its own thread.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                let mut admin = admin_conn().await;
                let _ = admin
                    .execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await;
                admin.close().await;
            });
        })
        .join();
    }
}

pub async fn admin_conn() -> Conn {
    let url = DatabaseUrl::parse(&pg_admin_url()).unwrap();
    Conn::open(&url, Role::Writer)
        .await
        .expect("PostgreSQL must be running for the tests (.ci/run starts it)")
}

fn rand_suffix() -> String {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{n:x}")
}

/// What a finished process printed.
#[derive(Debug)]
pub struct Output {
    pub success: bool,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

pub async fn run_command(mut cmd: tokio::process::Command) -> Output {
    let out = tokio::time::timeout(Duration::from_secs(120), cmd.output())
        .await
        .expect("command finished in time")
        .expect("command ran");
    Output {
        success: out.status.success(),
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The migrations folder of this source tree.
pub fn migrations_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/meshview-store/migrations")
}

/// Copies a folder tree (for tests that edit migrations).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

/// Declares one test per backend from an `async fn(Backend)`.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::Backend::Postgres).await
                }
            )*
        }
    };
}

/// A running `meshview` process whose stderr is collected line by line.
pub struct Spawned {
    pub child: tokio::process::Child,
    lines: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Spawned {
    pub fn start(mut cmd: tokio::process::Command) -> Spawned {
        use tokio::io::AsyncBufReadExt;
        let mut child = cmd.spawn().expect("spawn meshview");
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let stderr = child.stderr.take().expect("stderr piped");
        let sink = lines.clone();
        tokio::spawn(async move {
            let mut reader = tokio::io::BufReader::new(stderr).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                sink.lock().unwrap().push(line);
            }
        });
        Spawned { child, lines }
    }

    pub fn log(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    /// Waits for a stderr line containing `needle`; returns it.
    pub async fn wait_for_line(&self, needle: &str, timeout: Duration) -> String {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(l) = self
                .lines
                .lock()
                .unwrap()
                .iter()
                .find(|l| l.contains(needle))
            {
                return l.clone();
            }
            if tokio::time::Instant::now() > deadline {
                panic!(
                    "no log line containing {needle:?} within {timeout:?}; log:\n{}",
                    self.log()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The `http://host:port` the server logged it listens on.
    pub async fn base_url(&self) -> String {
        let line = self
            .wait_for_line("listening on http://", Duration::from_secs(30))
            .await;
        let at = line.find("http://").unwrap();
        line[at..].split_whitespace().next().unwrap().to_string()
    }

    /// Waits for the process to exit; returns its exit code.
    pub async fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let status = tokio::time::timeout(timeout, self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("process did not exit in {timeout:?}; log:\n{}", self.log()))
            .expect("wait");
        // Let the reader task drain the last lines.
        tokio::time::sleep(Duration::from_millis(100)).await;
        status.code()
    }

    /// SIGTERM, as systemd would send.
    pub fn terminate(&self) {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
        }
    }
}

/// An HTTP client that never uses a proxy (tests talk to 127.0.0.1 only).
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// GET → (status, JSON body).
pub async fn get_json(url: &str) -> (u16, serde_json::Value) {
    let r = http().get(url).send().await.expect("request");
    let status = r.status().as_u16();
    let body = r.json().await.unwrap_or(serde_json::Value::Null);
    (status, body)
}

impl Spawned {
    /// Waits until `n` stderr lines contain `needle`.
    pub async fn wait_for_lines(&self, needle: &str, n: usize, timeout: Duration) {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let have = self
                .lines
                .lock()
                .unwrap()
                .iter()
                .filter(|l| l.contains(needle))
                .count();
            if have >= n {
                return;
            }
            if tokio::time::Instant::now() > deadline {
                panic!(
                    "{have} of {n} log lines containing {needle:?} within {timeout:?}; log:\n{}",
                    self.log()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// A free TCP port on 127.0.0.1 (for private brokers in tests).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A private Mosquitto on 127.0.0.1:`port`, killed when dropped.
pub struct Broker {
    pub port: u16,
    child: std::process::Child,
    _dir: tempfile::TempDir,
}

impl Broker {
    pub async fn start(port: u16) -> Broker {
        Broker::start_with(port, "").await
    }

    /// [`Broker::start`] with more lines of configuration.
    ///
    /// The writer's persistent session needs the broker to queue for it while it is away:
    /// Mosquitto keeps 1000 messages per session by default (`max_queued_messages`), and
    /// drops QoS 1 messages beyond that; the tests' streams are bigger. The window of
    /// unacknowledged messages (`max_inflight_messages`, 20) stays at its default.
    pub async fn start_with(port: u16, extra: &str) -> Broker {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("mosquitto.conf");
        std::fs::write(
            &conf,
            format!(
                "listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n\
                 max_queued_messages 100000\n{extra}"
            ),
        )
        .unwrap();
        let child = std::process::Command::new("mosquitto")
            .args(["-c", conf.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto must be installed (scripts/test.sh installs it)");
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Broker {
            port,
            child,
            _dir: dir,
        }
    }

    pub fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
