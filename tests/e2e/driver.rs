//! Chromium through chromedriver: whether they are installed, one
//! chromedriver per test, one headless browser per profile, Chrome DevTools
//! commands (colour scheme, viewport, screenshots) and the test runner.

use std::future::Future;
use std::io::Write;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::helpers::{Backend, TestApp};

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// How every browser starts, besides its own `--user-data-dir`.
const CHROMIUM_FLAGS: [&str; 9] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
    "--window-size=1280,900",
];

const DRIVER_START_TIMEOUT: Duration = Duration::from_secs(20);
const NAVIGATION_TIMEOUT: Duration = Duration::from_secs(15);

/// Whether `CI=true`: then nothing may be skipped.
pub fn in_ci() -> bool {
    std::env::var("CI").as_deref() == Ok("true")
}

/// Prints `line` once per run straight to the process's stderr (the test
/// harness captures `eprintln!`).
pub fn notice_once(once: &'static Once, line: &str) {
    once.call_once(|| {
        let _ = writeln!(std::io::stderr(), "{line}");
    });
}

/// Whether Chromium and chromedriver are installed. Without them the test
/// is skipped with one line for the whole run, or fails under `CI=true`.
pub fn browsers_available() -> bool {
    let missing: Vec<&str> = [CHROMIUM, CHROMEDRIVER]
        .into_iter()
        .filter(|path| !Path::new(path).is_file())
        .collect();
    if missing.is_empty() {
        return true;
    }
    assert!(
        !in_ci(),
        "browser tests must run in CI but {} missing: apt-get install chromium chromium-driver",
        missing.join(" and ")
    );
    static NOTICE: Once = Once::new();
    notice_once(
        &NOTICE,
        "skipping browser tests: install chromium and chromium-driver \
         (apt-get install chromium chromium-driver) to run them",
    );
    false
}

/// Where screenshots go: `target/e2e/` of this package.
pub fn screenshot_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/e2e");
    std::fs::create_dir_all(&dir).expect("failed to create target/e2e");
    dir
}

/// Runs one browser test: a server with a fresh SQLite database, a
/// chromedriver, the body, then a screenshot of every browser the body
/// opened (also when it panicked) and their sessions closed.
pub async fn run<F, Fut>(name: &'static str, needs_axe: bool, body: F)
where
    F: FnOnce(Arc<E2e>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    run_with(name, needs_axe, &[], body).await;
}

/// [`run`], with these settings for the server.
pub async fn run_with<F, Fut>(name: &'static str, needs_axe: bool, env: &[(&str, &str)], body: F)
where
    F: FnOnce(Arc<E2e>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    if !browsers_available() || (needs_axe && crate::axe::source().is_none()) {
        return;
    }
    let mut builder = TestApp::builder(Backend::Sqlite);
    for (key, value) in env {
        builder = builder.env(key, value);
    }
    let app = builder.spawn().await;
    let driver = Chromedriver::start().await;
    let t = Arc::new(E2e {
        app,
        driver,
        opened: Mutex::default(),
        name,
    });
    let outcome = tokio::spawn(body(Arc::clone(&t))).await;
    t.finish().await;
    if let Err(error) = outcome {
        let logs = t.app.logs();
        let tail: Vec<&str> = logs.lines().rev().take(30).collect();
        eprintln!(
            "server log (last lines):\n{}",
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
        match error.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(error) => panic!("the test did not finish: {error}"),
        }
    }
}

/// What a browser test works with: the server and its browsers.
pub struct E2e {
    pub app: TestApp,
    driver: Chromedriver,
    opened: Mutex<Vec<Browser>>,
    name: &'static str,
}

impl E2e {
    /// A new headless Chromium with a profile of its own (its own cookies).
    pub async fn browser(&self) -> Browser {
        let browser = Browser::open(&self.driver.url, &self.app.address).await;
        self.opened
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(browser.clone());
        browser
    }

    /// Screenshots of the last page of each browser, then closes them.
    async fn finish(&self) {
        let browsers = std::mem::take(
            &mut *self
                .opened
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        for (index, browser) in browsers.iter().enumerate() {
            let name = match index {
                0 => self.name.to_owned(),
                n => format!("{}-browser{}", self.name, n + 1),
            };
            if let Err(error) = browser.try_screenshot(&name).await {
                eprintln!("no screenshot {name}: {error}");
            }
            let _ = browser.client.clone().close().await;
        }
    }
}

/// A chromedriver of our own on a free port, in its own process group.
struct Chromedriver {
    child: Child,
    url: String,
    _dir: TempDir,
}

impl Chromedriver {
    async fn start() -> Chromedriver {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .unwrap();
        let mut failures = Vec::new();
        for _ in 0..3 {
            let dir = tempfile::Builder::new()
                .prefix("gatehouse-chromedriver-")
                .tempdir()
                .unwrap();
            let log = dir.path().join("chromedriver.log");
            let port = free_port();
            let mut child = Command::new(CHROMEDRIVER)
                .arg(format!("--port={port}"))
                .arg(format!("--log-path={}", log.display()))
                .arg("--log-level=WARNING")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .process_group(0)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {CHROMEDRIVER}: {e}"));
            let url = format!("http://127.0.0.1:{port}");
            let deadline = Instant::now() + DRIVER_START_TIMEOUT;
            loop {
                if let Ok(Some(status)) = child.try_wait() {
                    failures.push(format!(
                        "port {port}: exited with {status}: {}",
                        std::fs::read_to_string(&log).unwrap_or_default()
                    ));
                    break;
                }
                if let Ok(response) = http.get(format!("{url}/status")).send().await
                    && let Ok(status) = response.json::<Value>().await
                    && status["value"]["ready"] == json!(true)
                {
                    return Chromedriver {
                        child,
                        url,
                        _dir: dir,
                    };
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    failures.push(format!("port {port}: /status not ready in time"));
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        panic!("chromedriver did not start: {failures:#?}");
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        // The sessions are closed by now; this ends chromedriver and any
        // browser of its process group that outlived it.
        let _ = Command::new("kill")
            .args(["-TERM", "--", &format!("-{}", self.child.id())])
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("no free port")
        .port()
}

/// The colour scheme a page is shown in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    Light,
    Dark,
}

impl Scheme {
    pub fn name(self) -> &'static str {
        match self {
            Scheme::Light => "light",
            Scheme::Dark => "dark",
        }
    }
}

/// The size of the page's viewport in CSS pixels, and device pixels per
/// CSS pixel (2 on a 1280-pixel window is the same layout as 200 % zoom).
#[derive(Clone, Copy, Debug)]
pub struct Viewport {
    pub width: u32,
    pub height: u32,
    pub scale: u32,
}

impl Viewport {
    pub const PHONE: Viewport = Viewport {
        width: 320,
        height: 720,
        scale: 1,
    };
    pub const DESKTOP: Viewport = Viewport {
        width: 1280,
        height: 900,
        scale: 1,
    };
    /// A 1280-pixel window at 200 % zoom.
    pub const ZOOM_200: Viewport = Viewport {
        width: 640,
        height: 450,
        scale: 2,
    };

    pub fn name(self) -> String {
        if self.scale == 1 {
            format!("{}", self.width)
        } else {
            format!("{}-zoom{}", self.width * self.scale, self.scale * 100)
        }
    }
}

/// A Chrome DevTools command, sent through chromedriver's
/// `POST /session/{id}/goog/cdp/execute`.
#[derive(Debug)]
struct Cdp {
    cmd: &'static str,
    params: Value,
}

impl WebDriverCompatibleCommand for Cdp {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        let session = session_id.expect("a DevTools command needs a session");
        base_url.join(&format!("session/{session}/goog/cdp/execute"))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (http::Method, Option<String>) {
        let body = json!({ "cmd": self.cmd, "params": self.params });
        (http::Method::POST, Some(body.to_string()))
    }
}

/// One headless Chromium with its own profile, pointed at the server.
#[derive(Clone)]
pub struct Browser {
    pub client: Client,
    base: String,
    _profile: Arc<TempDir>,
}

impl Browser {
    async fn open(driver: &str, base: &str) -> Browser {
        let profile = tempfile::Builder::new()
            .prefix("gatehouse-e2e-profile-")
            .tempdir()
            .unwrap();
        let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|f| (*f).to_owned()).collect();
        args.push(format!("--user-data-dir={}", profile.path().display()));
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": args,
                // No password manager bubbles or leak checks in the way.
                "prefs": {
                    "credentials_enable_service": false,
                    "profile.password_manager_enabled": false,
                    "profile.password_manager_leak_detection": false,
                },
            },
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!()
        };
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(driver)
            .await
            .unwrap_or_else(|e| panic!("cannot open a Chromium session: {e}"));
        Browser {
            client,
            base: base.to_owned(),
            _profile: Arc::new(profile),
        }
    }

    /// The server's URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Opens `path` of the server, as typed into the address bar.
    pub async fn goto(&self, path: &str) {
        self.client
            .goto(&self.url(path))
            .await
            .unwrap_or_else(|e| panic!("cannot open {path}: {e}"));
    }

    /// Path and query of the current page.
    pub async fn path(&self) -> String {
        let url = self.client.current_url().await.unwrap();
        match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_owned(),
        }
    }

    /// Runs a script in the page and returns its value.
    pub async fn js(&self, script: &str) -> Value {
        self.client
            .execute(script, Vec::new())
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// The visible text of the page.
    pub async fn text(&self) -> String {
        self.js("return document.body.innerText;")
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The page's `<title>`.
    pub async fn title(&self) -> String {
        self.client.title().await.unwrap()
    }

    /// Marks the current document, so that [`Browser::wait_for_new_document`]
    /// can tell when another one has loaded.
    pub async fn mark_document(&self) {
        self.js("window.__gatehouseOldDocument = true;").await;
    }

    /// Waits until a document other than the marked one has loaded.
    pub async fn wait_for_new_document(&self) {
        let deadline = Instant::now() + NAVIGATION_TIMEOUT;
        loop {
            let ready = self
                .client
                .execute(
                    "return document.readyState === 'complete' && !window.__gatehouseOldDocument;",
                    Vec::new(),
                )
                .await;
            if matches!(ready, Ok(Value::Bool(true))) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "no new page within {NAVIGATION_TIMEOUT:?}"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    async fn cdp(&self, cmd: &'static str, params: Value) -> Result<Value, String> {
        self.client
            .issue_cmd(Cdp { cmd, params })
            .await
            .map_err(|e| format!("{cmd}: {e}"))
    }

    /// Emulates `prefers-color-scheme` for this and the following pages.
    pub async fn set_scheme(&self, scheme: Scheme) {
        self.cdp(
            "Emulation.setEmulatedMedia",
            json!({ "features": [{ "name": "prefers-color-scheme", "value": scheme.name() }] }),
        )
        .await
        .unwrap();
    }

    /// Emulates a viewport for this and the following pages.
    pub async fn set_viewport(&self, viewport: Viewport) {
        self.cdp(
            "Emulation.setDeviceMetricsOverride",
            json!({
                "width": viewport.width,
                "height": viewport.height,
                "deviceScaleFactor": viewport.scale,
                "mobile": false,
            }),
        )
        .await
        .unwrap();
    }

    /// Saves a PNG of the whole page as `target/e2e/NAME.png`.
    pub async fn screenshot(&self, name: &str) {
        self.try_screenshot(name).await.unwrap();
    }

    async fn try_screenshot(&self, name: &str) -> Result<PathBuf, String> {
        // The whole page, without a scrollbar eating into its width.
        let size = self
            .client
            .execute(
                "document.documentElement.style.scrollbarWidth = 'none';
                 return [document.documentElement.scrollWidth, document.documentElement.scrollHeight];",
                Vec::new(),
            )
            .await
            .map_err(|e| e.to_string())?;
        let shot = self
            .cdp(
                "Page.captureScreenshot",
                json!({
                    "format": "png",
                    "captureBeyondViewport": true,
                    "clip": { "x": 0, "y": 0, "width": size[0], "height": size[1], "scale": 1 },
                }),
            )
            .await;
        let _ = self
            .client
            .execute(
                "document.documentElement.style.scrollbarWidth = '';",
                Vec::new(),
            )
            .await;
        let shot = shot?;
        let data = shot["data"]
            .as_str()
            .ok_or_else(|| format!("no image data in {shot}"))?;
        let png = crate::helpers::base64url_decode(&data.replace('+', "-").replace('/', "_"));
        let path = screenshot_dir().join(format!("{name}.png"));
        std::fs::write(&path, png).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(path)
    }
}
