//! The server process: a fresh database per test, the `gatehouse` binary
//! started on port 0 against it, its logs, and one-off commands.

use std::io::{BufRead, BufReader, Read, Write};
use std::ops::Deref;
use std::process::{Child, ChildStderr, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, Once};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};
use reqwest::Url;
use tempfile::TempDir;

use super::browser::Browser;
use super::tokens::random_secret;

/// The variable that turns the PostgreSQL half of the suite on.
pub const POSTGRES_URL_VAR: &str = "GATEHOUSE_TEST_POSTGRES_URL";

const START_TIMEOUT: Duration = Duration::from_secs(30);
const EXIT_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a test waits for a line in the server's log.
const LOG_TIMEOUT: Duration = Duration::from_secs(30);

/// The database a test runs against.
#[derive(Clone, Debug)]
pub enum Backend {
    Sqlite,
    /// An admin connection URL; each test creates its own database with it.
    Postgres(String),
}

impl Backend {
    /// The PostgreSQL backend when `GATEHOUSE_TEST_POSTGRES_URL` is set.
    /// Without it the test is skipped (one line on stderr for the whole
    /// run), except in CI where it must not be.
    pub fn postgres() -> Option<Backend> {
        match std::env::var(POSTGRES_URL_VAR) {
            Ok(url) if !url.trim().is_empty() => Some(Backend::Postgres(url.trim().to_owned())),
            _ => {
                if std::env::var("CI").as_deref() == Ok("true") {
                    panic!(
                        "PostgreSQL tests must run in CI: set {POSTGRES_URL_VAR} to an admin \
                         connection URL such as postgres://postgres@127.0.0.1:5432/postgres"
                    );
                }
                static SKIP_NOTICE: Once = Once::new();
                SKIP_NOTICE.call_once(|| {
                    // Straight to the process's stderr: the test harness captures eprintln!.
                    let _ = writeln!(
                        std::io::stderr(),
                        "skipping PostgreSQL tests: set {POSTGRES_URL_VAR}=postgres://postgres@127.0.0.1:5432/postgres to run them"
                    );
                });
                None
            }
        }
    }
}

/// A fresh database (and the temporary directory the server runs in),
/// shared by every server process of one test. Dropping the last handle
/// drops the PostgreSQL database.
pub struct TestDatabase {
    pub dir: TempDir,
    pub url: String,
    postgres: Option<(String, String)>,
}

impl TestDatabase {
    pub fn create(backend: &Backend) -> TestDatabase {
        let dir = tempfile::Builder::new()
            .prefix("gatehouse-test-")
            .tempdir()
            .expect("failed to create a temporary directory");
        match backend {
            Backend::Sqlite => {
                let url = format!("sqlite://{}", dir.path().join("gatehouse.db").display());
                TestDatabase {
                    dir,
                    url,
                    postgres: None,
                }
            }
            Backend::Postgres(admin_url) => {
                let name = format!("gatehouse_test_{}", uuid::Uuid::new_v4().simple());
                let mut admin = PgConnection::establish(admin_url).unwrap_or_else(|e| {
                    panic!("cannot connect to PostgreSQL with {POSTGRES_URL_VAR}: {e}")
                });
                admin
                    .batch_execute(&format!(r#"CREATE DATABASE "{name}""#))
                    .expect("failed to create the test database");
                let mut url = Url::parse(admin_url).expect("the PostgreSQL URL does not parse");
                url.set_path(&format!("/{name}"));
                TestDatabase {
                    dir,
                    url: url.to_string(),
                    postgres: Some((admin_url.clone(), name)),
                }
            }
        }
    }

    pub fn is_postgres(&self) -> bool {
        self.postgres.is_some()
    }

    /// Drops the PostgreSQL database now, terminating its connections.
    pub fn drop_postgres_database(&self) {
        if let Some((admin_url, name)) = &self.postgres {
            match PgConnection::establish(admin_url) {
                Ok(mut admin) => {
                    if let Err(e) = admin
                        .batch_execute(&format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#))
                    {
                        let _ = writeln!(std::io::stderr(), "could not drop {name}: {e}");
                    }
                }
                Err(e) => {
                    let _ = writeln!(std::io::stderr(), "could not drop {name}: {e}");
                }
            }
        }
    }

    /// A `gatehouse` command with a clean environment pointing at this
    /// database, run in the temporary directory.
    pub fn command(&self, args: &[&str], env: &[(String, String)]) -> Command {
        self.command_with_url(&self.url, args, env)
    }

    fn command_with_url(&self, url: &str, args: &[&str], env: &[(String, String)]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_gatehouse"));
        command.args(args).current_dir(self.dir.path());
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy();
            if key.starts_with("GATEHOUSE_") || key == "DATABASE_URL" || key == "RUST_LOG" {
                command.env_remove(key.as_ref());
            }
        }
        command
            .env("DATABASE_URL", url)
            .env("GATEHOUSE_BIND", "127.0.0.1:0")
            .env("GATEHOUSE_BCRYPT_COST", "4")
            .env("GATEHOUSE_COOKIE_SECURE", "false")
            // A test suite is a load test of its own: many logins and
            // registrations from one address in a short time.
            .env("GATEHOUSE_RATE_LIMITS", "off")
            .env("RUST_LOG", "info");
        for (key, value) in env {
            command.env(key, value);
        }
        command
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        self.drop_postgres_database();
    }
}

/// What a finished `gatehouse` command printed.
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `gatehouse ARGS` to completion (at most 20 seconds), its standard
/// input empty (not a terminal).
pub fn run_gatehouse(database: &TestDatabase, args: &[&str], env: &[(&str, &str)]) -> Finished {
    run_gatehouse_with_input(database, args, env, None)
}

/// [`run_gatehouse`] with `input` written to its standard input (then
/// closed); `None`: the null device.
pub fn run_gatehouse_with_input(
    database: &TestDatabase,
    args: &[&str],
    env: &[(&str, &str)],
    input: Option<&str>,
) -> Finished {
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let mut child = database
        .command(args, &env)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("failed to start gatehouse");
    if let (Some(input), Some(mut stdin)) = (input, child.stdin.take()) {
        // A command that exits before reading all of it closes the pipe: no error.
        let _ = stdin.write_all(input.as_bytes());
    }
    let stdout = read_all(child.stdout.take());
    let stderr = read_all(child.stderr.take());
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("failed to wait for gatehouse") {
            break status;
        }
        if started.elapsed() > EXIT_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "gatehouse {args:?} did not exit within {EXIT_TIMEOUT:?}\nstdout:\n{}\nstderr:\n{}",
                stdout.join().unwrap_or_default(),
                stderr.join().unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Finished {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    }
}

fn read_all<R: Read + Send + 'static>(pipe: Option<R>) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut bytes);
        }
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// How to start a server.
pub struct AppBuilder {
    database: DatabaseChoice,
    env: Vec<(String, String)>,
    unset: Vec<String>,
    url_query: Option<String>,
    password: Option<String>,
    port: Option<u16>,
    args: Vec<String>,
}

/// The database a builder starts its server on.
enum DatabaseChoice {
    Fresh(Backend),
    Existing(Arc<TestDatabase>),
}

impl AppBuilder {
    fn new(database: DatabaseChoice) -> AppBuilder {
        AppBuilder {
            database,
            env: Vec::new(),
            unset: Vec::new(),
            url_query: None,
            password: None,
            port: None,
            args: vec!["serve".to_owned()],
        }
    }

    /// Sets an extra environment variable for the server.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Leaves a variable the harness would set unset.
    pub fn without_env(mut self, key: &str) -> Self {
        self.unset.push(key.to_owned());
        self
    }

    /// Appends a query (`sslmode=require`) to the database URL given to the server.
    pub fn database_url_query(mut self, query: &str) -> Self {
        self.url_query = Some(query.to_owned());
        self
    }

    /// Puts this password into the database URL given to the server.
    pub fn database_password(mut self, password: &str) -> Self {
        self.password = Some(password.to_owned());
        self
    }

    /// Gives the server this port in the database URL (a proxy in front of
    /// PostgreSQL) instead of the server's own.
    pub fn database_port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// Runs the binary with these arguments instead of `serve`.
    pub fn args(mut self, args: &[&str]) -> Self {
        self.args = args.iter().map(|a| (*a).to_owned()).collect();
        self
    }

    pub async fn spawn(self) -> TestApp {
        let database = match self.database {
            DatabaseChoice::Fresh(backend) => Arc::new(TestDatabase::create(&backend)),
            DatabaseChoice::Existing(database) => database,
        };
        let mut url = database.url.clone();
        if let Some(password) = &self.password {
            let mut parsed = Url::parse(&url).expect("the database URL does not parse");
            parsed
                .set_password(Some(password))
                .expect("the database URL takes no password");
            url = parsed.to_string();
        }
        if let Some(port) = self.port {
            let mut parsed = Url::parse(&url).expect("the database URL does not parse");
            parsed
                .set_port(Some(port))
                .expect("the database URL takes no port");
            url = parsed.to_string();
        }
        if let Some(query) = &self.url_query {
            let separator = if url.contains('?') { '&' } else { '?' };
            url = format!("{url}{separator}{query}");
        }
        let launch = Launch {
            url,
            env: self.env,
            unset: self.unset,
            args: self.args,
        };
        let logs = Arc::new(Mutex::new(String::new()));
        let (child, address) = launch.start(&database, &logs);
        TestApp {
            browser: Browser::new(&address),
            address,
            database_url: launch.url.clone(),
            child: Some(child),
            logs,
            launch: Arc::new(launch),
            database,
        }
    }
}

struct Launch {
    url: String,
    env: Vec<(String, String)>,
    unset: Vec<String>,
    args: Vec<String>,
}

impl Launch {
    fn start(&self, database: &TestDatabase, logs: &Arc<Mutex<String>>) -> (Child, String) {
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        let mut command = database.command_with_url(&self.url, &args, &self.env);
        for key in &self.unset {
            command.env_remove(key);
        }
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("failed to start gatehouse");
        let (sender, receiver) = mpsc::channel();
        drain_stdout(child.stdout.take(), Arc::clone(logs), sender);
        drain_stderr(child.stderr.take(), Arc::clone(logs));
        match receiver.recv_timeout(START_TIMEOUT) {
            Ok(address) => (child, address),
            Err(reason) => {
                let _ = child.kill();
                let status = child.wait();
                std::thread::sleep(Duration::from_millis(100));
                panic!(
                    "gatehouse did not print `listening on` ({reason:?}, exit: {status:?}); it logged:\n{}",
                    lock(logs)
                );
            }
        }
    }
}

fn lock(logs: &Mutex<String>) -> std::sync::MutexGuard<'_, String> {
    logs.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn drain_stdout(pipe: Option<ChildStdout>, logs: Arc<Mutex<String>>, sender: mpsc::Sender<String>) {
    let Some(pipe) = pipe else { return };
    std::thread::spawn(move || {
        let mut reader = BufReader::new(pipe);
        let mut sender = Some(sender);
        let mut bytes = Vec::new();
        loop {
            bytes.clear();
            match reader.read_until(b'\n', &mut bytes) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            let line = String::from_utf8_lossy(&bytes).into_owned();
            lock(&logs).push_str(&line);
            if let Some(address) = listening_address(&line)
                && let Some(sender) = sender.take()
            {
                let _ = sender.send(address);
            }
        }
    });
}

fn drain_stderr(pipe: Option<ChildStderr>, logs: Arc<Mutex<String>>) {
    let Some(pipe) = pipe else { return };
    std::thread::spawn(move || {
        let mut reader = BufReader::new(pipe);
        let mut bytes = Vec::new();
        loop {
            bytes.clear();
            match reader.read_until(b'\n', &mut bytes) {
                Ok(0) | Err(_) => break,
                Ok(_) => lock(&logs).push_str(&String::from_utf8_lossy(&bytes)),
            }
        }
    });
}

/// The address a server's `listening on http://…` line names.
pub fn listening_address(line: &str) -> Option<String> {
    url_after(line, "listening on ")
}

/// The `http://` URL that follows `marker` in a log line.
fn url_after(line: &str, marker: &str) -> Option<String> {
    let (_, rest) = line.split_once(marker)?;
    // The URL ends where a character no URL of ours has begins (a space,
    // or a quote in a JSON log line).
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || ".:/[]-".contains(c)))
        .unwrap_or(rest.len());
    let address = rest[..end].trim_end_matches(|c: char| !c.is_ascii_alphanumeric());
    address.starts_with("http://").then(|| address.to_owned())
}

/// A running server and a cookie-keeping client for it.
pub struct TestApp {
    /// The client side: a cookie jar and one method per route.
    pub browser: Browser,
    /// `http://127.0.0.1:PORT`
    pub address: String,
    /// The `DATABASE_URL` given to the server.
    pub database_url: String,
    pub database: Arc<TestDatabase>,
    child: Option<Child>,
    logs: Arc<Mutex<String>>,
    launch: Arc<Launch>,
}

impl Deref for TestApp {
    type Target = Browser;

    fn deref(&self) -> &Browser {
        &self.browser
    }
}

impl TestApp {
    /// A server with the harness's default settings.
    pub async fn spawn(backend: Backend) -> TestApp {
        TestApp::builder(backend).spawn().await
    }

    /// A server on a fresh database.
    pub fn builder(backend: Backend) -> AppBuilder {
        AppBuilder::new(DatabaseChoice::Fresh(backend))
    }

    /// A server on this one's database, with settings of its own
    /// (`spawn_another` repeats this server's).
    /// A server on a database the test prepared itself.
    pub fn builder_on(database: Arc<TestDatabase>) -> AppBuilder {
        AppBuilder::new(DatabaseChoice::Existing(database))
    }

    pub fn builder_on_this_database(&self) -> AppBuilder {
        AppBuilder::new(DatabaseChoice::Existing(Arc::clone(&self.database)))
    }

    /// Everything the server printed so far, stdout and stderr.
    pub fn logs(&self) -> String {
        lock(&self.logs).clone()
    }

    /// The URL of the metrics page (`GATEHOUSE_METRICS_BIND`), as the
    /// server logged it before it logged its own address.
    pub fn metrics_url(&self) -> Option<String> {
        self.logs()
            .lines()
            .find_map(|line| url_after(line, "metrics on "))
    }

    /// Waits until the server's log has a line containing `needle`;
    /// returns it.
    pub async fn wait_for_log_line(&self, needle: &str) -> String {
        self.wait_for_log_line_where(&format!("with {needle:?}"), |line| line.contains(needle))
            .await
    }

    /// Waits until the server's log has a line that `matches` (`what`
    /// says which, for the failure); returns it.
    pub async fn wait_for_log_line_where(
        &self,
        what: &str,
        matches: impl Fn(&str) -> bool,
    ) -> String {
        let started = Instant::now();
        loop {
            let logs = self.logs();
            if let Some(line) = logs.lines().find(|line| matches(line)) {
                return line.to_owned();
            }
            assert!(
                started.elapsed() < LOG_TIMEOUT,
                "no log line {what} within {LOG_TIMEOUT:?}:\n{logs}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A client with an empty cookie jar for this server.
    pub fn new_browser(&self) -> Browser {
        Browser::new(&self.address)
    }

    /// Kills the server and starts it again on the same database; the
    /// client keeps its cookies.
    pub async fn restart(&mut self) {
        self.stop();
        lock(&self.logs).push_str("---- restart ----\n");
        let (child, address) = self.launch.start(&self.database, &self.logs);
        self.child = Some(child);
        self.address.clone_from(&address);
        self.browser.address = address;
    }

    /// A second server on the same database, with its own client.
    pub async fn spawn_another(&self) -> TestApp {
        let logs = Arc::new(Mutex::new(String::new()));
        let (child, address) = self.launch.start(&self.database, &logs);
        TestApp {
            browser: Browser::new(&address),
            address,
            database_url: self.database_url.clone(),
            child: Some(child),
            logs,
            launch: Arc::clone(&self.launch),
            database: Arc::clone(&self.database),
        }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("the server is not running").id()
    }

    /// Sends a signal (`"TERM"`, `"KILL"`, …) to the server.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([format!("-{signal}"), self.pid().to_string()])
            .status()
            .expect("kill could not run");
        assert!(status.success(), "kill -{signal} failed");
    }

    /// Waits up to `timeout` for the server to exit and returns how it did.
    pub fn wait_for_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        let child = self.child.as_mut()?;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                self.child = None;
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts the server again on the same database after it exited.
    pub async fn start_again(&mut self) {
        self.restart().await;
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // The database (a shared field) is dropped after this, once the
        // last server using it is gone.
        self.stop();
    }
}

/// A server started with a `GATEHOUSE_SECRET` the test knows, so it can
/// sign tokens itself; returns the server and the secret.
pub async fn spawn_with_known_secret(backend: Backend) -> (TestApp, String) {
    let secret = random_secret();
    let app = TestApp::builder(backend)
        .env("GATEHOUSE_SECRET", &secret)
        .spawn()
        .await;
    (app, secret)
}

/// Whether a log line mentions a request with this method and path.
pub fn mentions_request(line: &str, method: &str, path: &str) -> bool {
    let words: Vec<&str> = line
        .split(|c: char| c.is_whitespace() || "\"'=,;()[]{}`".contains(c))
        .collect();
    words.contains(&method)
        && words
            .iter()
            .any(|word| *word == path || word.split('?').next() == Some(path))
}
