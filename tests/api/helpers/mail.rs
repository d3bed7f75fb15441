//! Mail as a user gets it: a real SMTP server on loopback (aiosmtpd, from
//! Debian's `python3-aiosmtpd`) or gatehouse's own `.eml` files, read back
//! message by message.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Once;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::app::{AppBuilder, Backend, TestApp};
use super::skip::{needed, runs};

/// The Python with Debian's aiosmtpd (not a pyenv one that lacks it).
const PYTHON: &str = "/usr/bin/python3";
const SINK: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/smtp_sink.py");
/// How long a test waits for a message before it fails.
const MAIL_TIMEOUT: Duration = Duration::from_secs(30);

/// Whether the SMTP server can run here. Without it the SMTP tests skip
/// (one line for the run), except in CI where they must run.
pub fn smtp_available() -> bool {
    static NOTICE: Once = Once::new();
    needed(
        runs(PYTHON, &["-c", "import aiosmtpd"]),
        &NOTICE,
        "the SMTP tests (the others read the .eml files)",
        "apt-get install python3-aiosmtpd",
    )
}

/// How a test SMTP server speaks TLS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmtpTls {
    None,
    /// STARTTLS required before anything else (`smtp://…?tls=required`).
    StartTls,
    /// TLS from the first byte (`smtps://`).
    Implicit,
}

/// A real SMTP server writing what it receives into a folder.
pub struct SmtpServer {
    child: Option<Child>,
    pub port: u16,
    credentials: Option<(String, String)>,
    tls: SmtpTls,
    dir: TempDir,
    /// The CA that signed the server's certificate, and the certificate
    /// and key, as files (TLS only).
    certificates: Option<TempDir>,
}

impl SmtpServer {
    /// On a free port; `None` when aiosmtpd is missing outside CI.
    pub fn start() -> Option<SmtpServer> {
        Self::start_with(0, None)
    }

    /// Requiring AUTH with this user and password.
    pub fn start_with_login(user: &str, password: &str) -> Option<SmtpServer> {
        Self::start_with(0, Some((user.to_owned(), password.to_owned())))
    }

    /// On `port` (0: any), maybe requiring a login.
    pub fn start_with(port: u16, credentials: Option<(String, String)>) -> Option<SmtpServer> {
        Self::start_full(port, credentials, SmtpTls::None)
    }

    /// Speaking TLS with a certificate for `localhost` and `127.0.0.1`
    /// signed by a CA of its own ([`SmtpServer::ca_file`]).
    pub fn start_tls(tls: SmtpTls, credentials: Option<(String, String)>) -> Option<SmtpServer> {
        Self::start_full(0, credentials, tls)
    }

    fn start_full(
        port: u16,
        credentials: Option<(String, String)>,
        tls: SmtpTls,
    ) -> Option<SmtpServer> {
        if !smtp_available() {
            return None;
        }
        let dir = tempfile::Builder::new()
            .prefix("gatehouse-smtp-")
            .tempdir()
            .expect("temp dir");
        let certificates = (tls != SmtpTls::None).then(|| {
            let files = tempfile::Builder::new()
                .prefix("gatehouse-smtp-tls-")
                .tempdir()
                .expect("temp dir");
            let (ca, cert, key) = super::certs::certificates();
            for (name, pem) in [("ca.pem", ca), ("cert.pem", cert), ("key.pem", key)] {
                std::fs::write(files.path().join(name), pem).expect("write a certificate");
            }
            files
        });
        let mut server = SmtpServer {
            child: None,
            port,
            credentials,
            tls,
            dir,
            certificates,
        };
        server.launch();
        Some(server)
    }

    /// The CA file a client must trust (TLS only).
    pub fn ca_file(&self) -> PathBuf {
        self.certificates
            .as_ref()
            .expect("a TLS server")
            .path()
            .join("ca.pem")
    }

    fn launch(&mut self) {
        let mut command = Command::new(PYTHON);
        command
            .arg(SINK)
            .arg(self.dir.path())
            .arg(self.port.to_string());
        if let Some((user, password)) = &self.credentials {
            command.args([user, password]);
        }
        if let Some(files) = &self.certificates {
            let mode = match self.tls {
                SmtpTls::Implicit => "implicit",
                _ => "starttls",
            };
            command
                .env("SINK_TLS", mode)
                .env("SINK_CERT", files.path().join("cert.pem"))
                .env("SINK_KEY", files.path().join("key.pem"));
        }
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("cannot start the SMTP server");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("the SMTP server said nothing");
        self.port = line
            .trim()
            .strip_prefix("listening on ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("the SMTP server did not start: {line:?}"));
        self.child = Some(child);
    }

    /// `smtp://localhost:PORT` (`smtps://` for implicit TLS, with
    /// `?tls=required` for STARTTLS), with the login if one is required.
    pub fn url(&self) -> String {
        let login = match &self.credentials {
            Some((user, password)) => format!("{user}:{password}@"),
            None => String::new(),
        };
        match self.tls {
            SmtpTls::None => format!("smtp://{login}127.0.0.1:{}", self.port),
            SmtpTls::StartTls => format!("smtp://{login}localhost:{}?tls=required", self.port),
            SmtpTls::Implicit => format!("smtps://{login}localhost:{}", self.port),
        }
    }

    /// Stops the server (its port stays free for [`SmtpServer::resume`]).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port, keeping what it received.
    pub fn resume(&mut self) {
        self.stop();
        self.launch();
    }

    pub fn mailbox(&self) -> Mailbox {
        Mailbox {
            dir: self.dir.path().to_owned(),
        }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A free loopback port, for a server started later.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free port")
}

/// Where a test's server delivers mail: the SMTP server when it can run
/// here, else gatehouse's `.eml` folder.
pub struct TestMail {
    smtp: Option<SmtpServer>,
    files: TempDir,
}

impl TestMail {
    pub fn start() -> TestMail {
        TestMail {
            smtp: SmtpServer::start(),
            files: tempfile::Builder::new()
                .prefix("gatehouse-mail-")
                .tempdir()
                .expect("temp dir"),
        }
    }

    /// The builder with its mail going here.
    pub fn configure(&self, builder: AppBuilder) -> AppBuilder {
        let builder = builder.env(
            "GATEHOUSE_MAIL_DIR",
            &self.files.path().display().to_string(),
        );
        match &self.smtp {
            Some(smtp) => builder.env("GATEHOUSE_SMTP_URL", &smtp.url()),
            None => builder,
        }
    }

    pub fn mailbox(&self) -> Mailbox {
        match &self.smtp {
            Some(smtp) => smtp.mailbox(),
            None => Mailbox {
                dir: self.files.path().to_owned(),
            },
        }
    }
}

/// A server with the harness's defaults whose mail goes to a [`TestMail`]
/// of its own (in that order, so that the server stops first).
pub async fn spawn_with_mail(backend: Backend) -> (TestMail, TestApp) {
    let mail = TestMail::start();
    let app = mail.configure(TestApp::builder(backend)).spawn().await;
    (mail, app)
}

/// A folder of `.eml` messages.
#[derive(Clone)]
pub struct Mailbox {
    pub dir: PathBuf,
}

impl Mailbox {
    pub fn at(dir: &Path) -> Mailbox {
        Mailbox {
            dir: dir.to_owned(),
        }
    }

    /// Every message so far, oldest first.
    pub fn messages(&self) -> Vec<Mail> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut files: Vec<(std::time::SystemTime, PathBuf)> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "eml"))
            .map(|p| {
                (
                    p.metadata()
                        .and_then(|m| m.modified())
                        .unwrap_or(std::time::UNIX_EPOCH),
                    p,
                )
            })
            .collect();
        files.sort();
        files
            .into_iter()
            .filter_map(|(_, path)| std::fs::read_to_string(path).ok())
            .map(|raw| Mail::parse(&raw))
            .collect()
    }

    /// The messages to `to` whose subject contains `subject`.
    pub fn to(&self, to: &str, subject: &str) -> Vec<Mail> {
        self.messages()
            .into_iter()
            .filter(|m| m.to.contains(to) && m.subject.contains(subject))
            .collect()
    }

    /// Waits until `count` such messages have arrived and returns them.
    pub async fn wait_for_count(&self, to: &str, subject: &str, count: usize) -> Vec<Mail> {
        let started = Instant::now();
        loop {
            let found = self.to(to, subject);
            if found.len() >= count {
                return found;
            }
            if started.elapsed() > MAIL_TIMEOUT {
                panic!(
                    "{count} message(s) to {to} about {subject:?} did not arrive within {MAIL_TIMEOUT:?}; found {} of {} in all: {:?}",
                    found.len(),
                    self.messages().len(),
                    self.messages()
                        .iter()
                        .map(|m| (&m.to, &m.subject))
                        .collect::<Vec<_>>()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits for the first message to `to` about `subject`.
    pub async fn wait_for(&self, to: &str, subject: &str) -> Mail {
        self.wait_for_count(to, subject, 1).await.remove(0)
    }

    /// Waits for the `n`th (1-based) message to `to` about `subject`.
    pub async fn wait_for_nth(&self, to: &str, subject: &str, n: usize) -> Mail {
        self.wait_for_count(to, subject, n).await.remove(n - 1)
    }
}

/// One message, its headers and its plain-text body.
#[derive(Debug, Clone)]
pub struct Mail {
    pub from: String,
    pub to: String,
    pub subject: String,
    pub headers: String,
    pub body: String,
}

impl Mail {
    pub fn parse(raw: &str) -> Mail {
        let raw = raw.replace("\r\n", "\n");
        let (headers, body) = raw.split_once("\n\n").unwrap_or((&raw, ""));
        let header = |name: &str| {
            headers
                .lines()
                .find_map(|line| {
                    let (key, value) = line.split_once(':')?;
                    key.eq_ignore_ascii_case(name)
                        .then(|| value.trim().to_owned())
                })
                .unwrap_or_default()
        };
        assert!(
            header("Content-Transfer-Encoding") == "7bit",
            "expected a 7bit message (links whole):\n{headers}"
        );
        Mail {
            from: header("From"),
            to: header("To"),
            subject: header("Subject"),
            headers: headers.to_owned(),
            body: body.to_owned(),
        }
    }

    /// The first link in the body.
    pub fn link(&self) -> String {
        self.body
            .split_whitespace()
            .find(|w| w.starts_with("http://") || w.starts_with("https://"))
            .unwrap_or_else(|| panic!("no link in:\n{}", self.body))
            .to_owned()
    }

    /// Asserts that the link starts with `prefix`.
    pub fn assert_link_starts_with(&self, prefix: &str) {
        let link = self.link();
        assert!(link.starts_with(prefix), "{link}");
    }

    /// The link's path (`/verify-email/TOKEN`), for the test's client.
    pub fn link_path(&self) -> String {
        let link = self.link();
        let after_scheme = link
            .split_once("://")
            .map_or(link.as_str(), |(_, rest)| rest);
        after_scheme
            .find('/')
            .map(|i| after_scheme[i..].to_owned())
            .unwrap_or_default()
    }

    /// The token: the link's last path segment.
    pub fn token(&self) -> String {
        self.link_path()
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_owned()
    }
}
