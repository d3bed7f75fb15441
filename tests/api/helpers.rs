//! The harness: starts the real `gatehouse` binary on port 0 with a fresh
//! database and talks HTTP to it.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::ops::Deref;
use std::process::{Child, ChildStderr, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, Once};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};
use reqwest::cookie::{CookieStore, Jar};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue, LOCATION, SET_COOKIE};
use reqwest::{Client, Response, StatusCode, Url};
use serde::Serialize;
use serde_json::{Value, json};
use tempfile::TempDir;

/// The variable that turns the PostgreSQL half of the suite on.
pub const POSTGRES_URL_VAR: &str = "GATEHOUSE_TEST_POSTGRES_URL";
/// Name of the cookie holding the JWT.
pub const AUTH_COOKIE: &str = "gatehouse_token";
/// Name of the cookie holding flash messages and the CSRF token.
pub const SESSION_COOKIE: &str = "gatehouse_session";
/// Default token lifetime in seconds (15 minutes).
pub const DEFAULT_TTL_SECS: u64 = 900;
/// Where an anonymous visitor of `/me` is sent.
pub const LOGIN_FOR_ME: &str = "/login?next=%2Fme";

const START_TIMEOUT: Duration = Duration::from_secs(30);
const EXIT_TIMEOUT: Duration = Duration::from_secs(20);

// Field messages rendered by the server, in pages and in the API.
pub const USERNAME_LENGTH: &str = "Username must be between 3 and 32 characters";
pub const USERNAME_CHARACTERS: &str =
    "Username may contain only letters, digits, underscores, hyphens and dots";
pub const EMAIL_INVALID: &str = "Enter a valid email address";
pub const EMAIL_TOO_LONG: &str = "Email must be at most 254 characters";
pub const PASSWORD_TOO_SHORT: &str = "Password must be at least 8 characters";
pub const PASSWORD_TOO_LONG: &str = "Password must be at most 72 bytes";
pub const PASSWORDS_DIFFER: &str = "Passwords do not match";
pub const EMAIL_TAKEN: &str = "Email already registered";
pub const USERNAME_TAKEN: &str = "Username already taken";
pub const INVALID_CREDENTIALS: &str = "Invalid email or password";
pub const LOGGED_OUT: &str = "You have been logged out";

/// Text that would show serde, SQL or a panic leaking into an answer.
pub const LEAKS: [&str; 8] = [
    "invalid type",
    "missing field",
    "expected",
    "line 1 column",
    "SELECT",
    "INSERT",
    "panicked",
    "diesel",
];

/// The content type of an HTML form post.
pub const FORM: &str = "application/x-www-form-urlencoded";

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

/// Runs `gatehouse ARGS` to completion (at most 20 seconds).
pub fn run_gatehouse(database: &TestDatabase, args: &[&str], env: &[(&str, &str)]) -> Finished {
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let mut child = database
        .command(args, &env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("failed to start gatehouse");
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
    backend: Backend,
    env: Vec<(String, String)>,
    unset: Vec<String>,
    url_query: Option<String>,
    password: Option<String>,
    port: Option<u16>,
    args: Vec<String>,
}

impl AppBuilder {
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
        let database = Arc::new(TestDatabase::create(&self.backend));
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

fn listening_address(line: &str) -> Option<String> {
    let (_, rest) = line.split_once("listening on ")?;
    let address = rest.split_whitespace().next()?;
    let address = address.trim_end_matches(|c: char| !c.is_ascii_alphanumeric());
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

    pub fn builder(backend: Backend) -> AppBuilder {
        AppBuilder {
            backend,
            env: Vec::new(),
            unset: Vec::new(),
            url_query: None,
            password: None,
            port: None,
            args: vec!["serve".to_owned()],
        }
    }

    /// Everything the server printed so far, stdout and stderr.
    pub fn logs(&self) -> String {
        lock(&self.logs).clone()
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

/// One HTTP client with its own cookie jar; never follows redirects.
pub struct Browser {
    pub address: String,
    pub client: Client,
    jar: Arc<Jar>,
}

impl Browser {
    pub fn new(address: &str) -> Browser {
        let jar = Arc::new(Jar::default());
        let client = Client::builder()
            .cookie_provider(Arc::clone(&jar))
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(60))
            .build()
            .expect("failed to build the HTTP client");
        Browser {
            address: address.to_owned(),
            client,
            jar,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// The cookies the jar would send to the server, by name.
    pub fn cookies(&self) -> HashMap<String, String> {
        let url = Url::parse(&self.address).expect("the address is a URL");
        let Some(header) = self.jar.cookies(&url) else {
            return HashMap::new();
        };
        header
            .to_str()
            .unwrap_or_default()
            .split(';')
            .filter_map(|pair| pair.trim().split_once('='))
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
            .collect()
    }

    /// The `gatehouse_token` value in the jar.
    pub fn auth_cookie(&self) -> Option<String> {
        self.cookies()
            .remove(AUTH_COOKIE)
            .filter(|value| !value.is_empty())
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("GET failed")
    }

    pub async fn post_form<F: Serialize + ?Sized>(&self, path: &str, form: &F) -> Response {
        self.client
            .post(self.url(path))
            .form(form)
            .send()
            .await
            .expect("POST failed")
    }

    pub async fn get_home(&self) -> Response {
        self.get("/").await
    }

    pub async fn get_register(&self) -> Response {
        self.get("/register").await
    }

    pub async fn post_register<F: Serialize + ?Sized>(&self, form: &F) -> Response {
        self.post_form("/register", form).await
    }

    /// `GET /login`, with `?next=` (URL-encoded) when given.
    pub async fn get_login(&self, next: Option<&str>) -> Response {
        let mut url = Url::parse(&self.url("/login")).expect("the address is a URL");
        if let Some(next) = next {
            url.query_pairs_mut().append_pair("next", next);
        }
        self.client.get(url).send().await.expect("GET failed")
    }

    pub async fn post_login<F: Serialize + ?Sized>(&self, form: &F) -> Response {
        self.post_form("/login", form).await
    }

    pub async fn post_logout<F: Serialize + ?Sized>(&self, form: &F) -> Response {
        self.post_form("/logout", form).await
    }

    pub async fn get_me(&self) -> Response {
        self.get("/me").await
    }

    pub async fn healthz(&self) -> Response {
        self.get("/healthz").await
    }

    pub async fn api_post_json(&self, path: &str, body: &Value) -> Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("POST failed")
    }

    /// A POST with a raw body and content type.
    pub async fn post_raw(&self, path: &str, content_type: &str, body: Vec<u8>) -> Response {
        self.client
            .post(self.url(path))
            .header(CONTENT_TYPE, content_type)
            .body(body)
            .send()
            .await
            .expect("POST failed")
    }

    pub async fn api_register(&self, body: &Value) -> Response {
        self.api_post_json("/api/register", body).await
    }

    pub async fn api_login(&self, body: &Value) -> Response {
        self.api_post_json("/api/login", body).await
    }

    pub async fn api_logout(&self, token: &str) -> Response {
        self.client
            .post(self.url("/api/logout"))
            .bearer_auth(token)
            .send()
            .await
            .expect("POST failed")
    }

    pub async fn api_me(&self, token: &str) -> Response {
        self.api_me_with_authorization(&format!("Bearer {token}"))
            .await
    }

    pub async fn api_me_with_authorization(&self, authorization: &str) -> Response {
        self.client
            .get(self.url("/api/me"))
            .header(AUTHORIZATION, authorization)
            .send()
            .await
            .expect("GET failed")
    }

    /// The CSRF token of the form on the page at `path`.
    pub async fn csrf_token_from(&self, path: &str) -> String {
        let response = self.get(path).await;
        assert_eq!(response.status(), StatusCode::OK, "GET {path}");
        csrf_from(&response.text().await.expect("no body"))
    }

    /// Fills in and posts the register form.
    pub async fn register_via_form(&self, user: &TestUser) -> Response {
        let csrf = self.csrf_token_from("/register").await;
        self.post_register(&user.register_form(&csrf)).await
    }

    /// Registers a fresh user through the form, which logs them in.
    pub async fn register_and_login_via_form(&self) -> TestUser {
        let user = TestUser::generate();
        let response = self.register_via_form(&user).await;
        assert_eq!(
            response.status(),
            StatusCode::SEE_OTHER,
            "registering {user:?}"
        );
        user
    }

    /// Fills in and posts the login form.
    pub async fn login_via_form(&self, email: &str, password: &str) -> Response {
        let csrf = self.csrf_token_from("/login").await;
        self.post_login(&[
            ("email", email),
            ("password", password),
            ("csrf_token", csrf.as_str()),
        ])
        .await
    }

    /// Presses the logout button (taken from the home page when logged in).
    pub async fn logout_via_form(&self) -> Response {
        let home = self.get_home().await.text().await.expect("no body");
        let csrf = match find_csrf(&home) {
            Some(csrf) => csrf,
            None => self.csrf_token_from("/login").await,
        };
        self.post_logout(&[("csrf_token", csrf.as_str())]).await
    }

    /// Registers through the API, expecting 201, and returns the body.
    pub async fn register_via_api(&self, user: &TestUser) -> Value {
        let response = self.api_register(&user.api_registration()).await;
        assert_eq!(
            response.status(),
            StatusCode::CREATED,
            "registering {user:?}"
        );
        response.json().await.expect("the body is not JSON")
    }

    /// Logs in through the API, expecting 200, and returns the access token.
    pub async fn login_via_api(&self, email: &str, password: &str) -> String {
        let response = self
            .api_login(&json!({ "email": email, "password": password }))
            .await;
        assert_eq!(response.status(), StatusCode::OK, "logging in {email}");
        let body: Value = response.json().await.expect("the body is not JSON");
        body["access_token"]
            .as_str()
            .expect("no access_token")
            .to_owned()
    }

    /// A fresh user registered through the API, its id and an access token.
    pub async fn user_with_token(&self) -> (TestUser, i64, String) {
        let user = TestUser::generate();
        let created = self.register_via_api(&user).await;
        let id = created["id"].as_i64().expect("the id is not an integer");
        let token = self.login_via_api(&user.email, &user.password).await;
        (user, id, token)
    }
}

/// A user that does not exist yet.
#[derive(Clone, Debug)]
pub struct TestUser {
    pub username: String,
    pub email: String,
    pub password: String,
}

impl TestUser {
    pub fn generate() -> TestUser {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let username = format!("user_{}", &id[..12]);
        TestUser {
            email: format!("{username}@example.com"),
            username,
            password: format!("pw-{id}"),
        }
    }

    pub fn register_form<'a>(&'a self, csrf: &'a str) -> [(&'static str, &'a str); 5] {
        [
            ("username", self.username.as_str()),
            ("email", self.email.as_str()),
            ("password", self.password.as_str()),
            ("password_confirm", self.password.as_str()),
            ("csrf_token", csrf),
        ]
    }

    pub fn api_registration(&self) -> Value {
        json!({ "username": self.username, "email": self.email, "password": self.password })
    }
}

/// The `Location` header of a response.
pub fn location(response: &Response) -> String {
    response
        .headers()
        .get(LOCATION)
        .unwrap_or_else(|| panic!("no Location header in a {} response", response.status()))
        .to_str()
        .expect("Location is not ASCII")
        .to_owned()
}

/// Asserts a 303 to `path`.
pub fn assert_redirects_to(response: &Response, path: &str) {
    assert_eq!(
        response.status(),
        StatusCode::SEE_OTHER,
        "expected a 303 to {path}"
    );
    assert_eq!(location(response), path);
}

/// The raw `Set-Cookie` header that sets cookie `name`, if any.
pub fn set_cookie(response: &Response, name: &str) -> Option<String> {
    let prefix = format!("{name}=");
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|value: &HeaderValue| value.to_str().ok())
        .find(|value| value.starts_with(&prefix))
        .map(str::to_owned)
}

/// A parsed `Set-Cookie` header.
#[derive(Debug)]
pub struct SetCookie {
    pub raw: String,
    pub value: String,
    attributes: Vec<(String, Option<String>)>,
}

impl SetCookie {
    pub fn parse(raw: &str) -> SetCookie {
        let mut parts = raw.split(';');
        let value = parts
            .next()
            .and_then(|pair| pair.split_once('='))
            .map(|(_, value)| value.trim().trim_matches('"').to_owned())
            .unwrap_or_default();
        let attributes = parts
            .map(|part| match part.trim().split_once('=') {
                Some((key, value)) => (key.trim().to_ascii_lowercase(), Some(value.to_owned())),
                None => (part.trim().to_ascii_lowercase(), None),
            })
            .collect();
        SetCookie {
            raw: raw.to_owned(),
            value,
            attributes,
        }
    }

    pub fn has(&self, flag: &str) -> bool {
        let flag = flag.to_ascii_lowercase();
        self.attributes.iter().any(|(key, _)| *key == flag)
    }

    pub fn get(&self, attribute: &str) -> Option<&str> {
        let attribute = attribute.to_ascii_lowercase();
        self.attributes
            .iter()
            .find(|(key, _)| *key == attribute)
            .and_then(|(_, value)| value.as_deref())
    }
}

/// The `gatehouse_token` Set-Cookie of a response, parsed; panics without one.
pub fn auth_set_cookie(response: &Response) -> SetCookie {
    let raw = set_cookie(response, AUTH_COOKIE).unwrap_or_else(|| {
        panic!(
            "no {AUTH_COOKIE} cookie set by a {} response; headers: {:?}",
            response.status(),
            response.headers()
        )
    });
    SetCookie::parse(&raw)
}

/// Asserts the attributes of a freshly set auth cookie.
pub fn assert_auth_cookie_attributes(cookie: &SetCookie, max_age: u64, secure: bool) {
    assert!(!cookie.value.is_empty(), "empty token in {}", cookie.raw);
    assert!(cookie.has("HttpOnly"), "no HttpOnly in {}", cookie.raw);
    assert!(
        cookie
            .get("SameSite")
            .is_some_and(|v| v.eq_ignore_ascii_case("Lax")),
        "no SameSite=Lax in {}",
        cookie.raw
    );
    assert_eq!(cookie.get("Path"), Some("/"), "Path in {}", cookie.raw);
    assert_eq!(
        cookie.get("Max-Age"),
        Some(max_age.to_string().as_str()),
        "Max-Age in {}",
        cookie.raw
    );
    assert_eq!(cookie.has("Secure"), secure, "Secure in {}", cookie.raw);
}

/// Every `<input …>` tag of a page.
pub fn input_tags(html: &str) -> Vec<&str> {
    let mut tags = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find("<input") {
        let tag = &rest[start..];
        let end = tag.find('>').map_or(tag.len(), |end| end + 1);
        tags.push(&tag[..end]);
        rest = &tag[end..];
    }
    tags
}

/// The value of `attribute="…"` in a tag, unescaped.
pub fn attribute(tag: &str, attribute: &str) -> Option<String> {
    let needle = format!("{attribute}=\"");
    let mut from = 0;
    while let Some(found) = tag[from..].find(&needle) {
        let at = from + found;
        let start = at + needle.len();
        if tag[..at].ends_with(char::is_whitespace) {
            let end = tag[start..].find('"')?;
            return Some(unescape_html(&tag[start..start + end]));
        }
        from = start;
    }
    None
}

/// The `<input>` tag named `name`, if any.
pub fn input_named<'a>(html: &'a str, name: &str) -> Option<&'a str> {
    input_tags(html)
        .into_iter()
        .find(|tag| attribute(tag, "name").as_deref() == Some(name))
}

/// Asserts that the page has a form field named `name`.
pub fn assert_has_field(html: &str, name: &str) {
    let has_field = input_named(html, name).is_some()
        || html.contains(&format!("<textarea name=\"{name}\""))
        || html.contains(&format!("<select name=\"{name}\""));
    assert!(has_field, "no field named {name:?} in:\n{html}");
}

/// The value of the hidden `csrf_token` input, if the page has one.
pub fn find_csrf(html: &str) -> Option<String> {
    input_named(html, "csrf_token")
        .and_then(|tag| attribute(tag, "value"))
        .filter(|value| !value.is_empty())
}

/// The value of the hidden `csrf_token` input; panics without one.
pub fn csrf_from(html: &str) -> String {
    find_csrf(html).unwrap_or_else(|| panic!("no csrf_token input in:\n{html}"))
}

/// Asserts that no password field of the page carries a value.
pub fn assert_password_inputs_are_empty(html: &str) {
    for tag in input_tags(html) {
        if attribute(tag, "type").as_deref() == Some("password") {
            let value = attribute(tag, "value").unwrap_or_default();
            assert!(value.is_empty(), "a password input has a value: {tag}");
        }
    }
}

fn unescape_html(text: &str) -> String {
    text.replace("&#34;", "\"")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&#60;", "<")
        .replace("&lt;", "<")
        .replace("&#62;", ">")
        .replace("&gt;", ">")
        .replace("&#38;", "&")
        .replace("&amp;", "&")
}

/// Asserts that an API answer has the status and a JSON body, and returns it.
pub async fn json_body(response: Response, status: StatusCode) -> Value {
    let actual = response.status();
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let text = response.text().await.expect("no body");
    assert_eq!(actual, status, "body: {text}");
    assert!(
        content_type.starts_with("application/json"),
        "Content-Type {content_type:?} for body {text}"
    );
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// Asserts a 401 with `WWW-Authenticate: Bearer` and a JSON `detail`.
pub async fn assert_api_unauthorized(response: Response) {
    let challenge = response
        .headers()
        .get(reqwest::header::WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = json_body(response, StatusCode::UNAUTHORIZED).await;
    assert!(
        challenge.starts_with("Bearer"),
        "WWW-Authenticate is {challenge:?}"
    );
    assert!(body["detail"].is_string(), "no detail in {body}");
}

/// The `{field, message}` pairs of a 422 API answer.
pub async fn validation_errors(response: Response) -> Vec<(String, String)> {
    let body = json_body(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    let detail = body["detail"]
        .as_array()
        .unwrap_or_else(|| panic!("detail is not a list: {body}"));
    assert!(!detail.is_empty(), "detail is empty: {body}");
    detail
        .iter()
        .map(|item| {
            (
                item["field"].as_str().unwrap_or_default().to_owned(),
                item["message"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// Asserts that a list of validation errors holds `message` for `field`.
pub fn assert_field_error(errors: &[(String, String)], field: &str, message: &str) {
    assert!(
        errors.iter().any(|(f, m)| f == field && m == message),
        "expected {field}: {message:?} in {errors:?}"
    );
}

/// Seconds since the Unix epoch.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock is before 1970")
        .as_secs()
        .try_into()
        .expect("the clock is past 2262")
}

const BASE64URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Unpadded base64url, as in JWTs.
pub fn base64url_encode(bytes: &[u8]) -> String {
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(char::from(BASE64URL[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

/// Decodes unpadded (or padded) base64url.
pub fn base64url_decode(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buffer = 0u32;
    let mut bits = 0;
    for c in text.trim_end_matches('=').bytes() {
        let sextet = BASE64URL
            .iter()
            .position(|b| *b == c)
            .unwrap_or_else(|| panic!("{c:?} is not base64url in {text}"));
        buffer = ((buffer & 0xffff) << 6) | u32::try_from(sextet).expect("a sextet fits");
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from((buffer >> bits) & 0xff).expect("a byte fits"));
        }
    }
    out
}

/// The JSON of one part (0 header, 1 claims) of a JWT, without checking it.
pub fn jwt_part(token: &str, index: usize) -> Value {
    let part = token
        .split('.')
        .nth(index)
        .unwrap_or_else(|| panic!("not a JWT: {token}"));
    serde_json::from_slice(&base64url_decode(part))
        .unwrap_or_else(|e| panic!("JWT part {index} is not JSON ({e}): {token}"))
}

/// The claims of a JWT, without checking the signature.
pub fn jwt_claims(token: &str) -> Value {
    jwt_part(token, 1)
}

/// Signs `claims` with HS256 and `key`.
pub fn sign_token(claims: &Value, key: &[u8]) -> String {
    sign_token_with(jsonwebtoken::Algorithm::HS256, claims, key)
}

pub fn sign_token_with(algorithm: jsonwebtoken::Algorithm, claims: &Value, key: &[u8]) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(algorithm),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(key),
    )
    .expect("failed to sign a token")
}

/// Claims that gatehouse would accept for user `id`, valid for 15 minutes.
pub fn valid_claims(id: i64) -> Value {
    let now = now();
    json!({
        "sub": id.to_string(),
        "iat": now,
        "exp": now + 900,
        "jti": uuid::Uuid::new_v4().to_string(),
        "iss": "gatehouse",
        "ver": 0,
    })
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

/// A random secret long enough for `GATEHOUSE_SECRET`.
pub fn random_secret() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
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
