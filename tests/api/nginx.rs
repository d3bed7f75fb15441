//! The deployment recipe behind Debian's real nginx: `deploy/nginx/gatehouse.conf`
//! as shipped, with only its listen addresses, host name, certificate paths
//! and upstream replaced, terminating TLS in front of a gatehouse that trusts
//! it as `deploy/gatehouse.service` sets it up. The client connects from
//! 127.0.0.2, so the address nginx sees differs from nginx's own (127.0.0.1),
//! which is the TCP peer gatehouse sees.
//!
//! Without `/usr/sbin/nginx` (`apt-get install nginx`) these tests skip with
//! one line, except under `CI=true`, where they fail.

use std::fs;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Once;
use std::time::{Duration, Instant};

use reqwest::header::{SET_COOKIE, STRICT_TRANSPORT_SECURITY};
use reqwest::{Certificate, Client, Response, StatusCode};
use serde_json::Value;
use tempfile::TempDir;

use crate::helpers::{
    AUTH_COOKIE, Backend, Browser, SetCookie, TestApp, TestUser, assert_redirects_to, certificates,
    free_port, json_body, location, needed, set_cookie,
};

const NGINX: &str = "/usr/sbin/nginx";
/// The recipe's site file, used as it is but for the substitutions below.
const SITE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/nginx/gatehouse.conf");
/// What nginx sends on every HTTPS answer, its own and gatehouse's.
const HSTS: &str = "max-age=31536000; includeSubDomains";
/// The address the test's client connects from.
const CLIENT: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
/// What a client might claim to be, in its own `X-Forwarded-For`.
const FORGED: &str = "203.0.113.9";
const START_TIMEOUT: Duration = Duration::from_secs(20);
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

backend_tests!(
    the_recipe_serves_gatehouse_over_https_with_the_client_s_address,
    a_forged_forwarded_address_is_dropped_for_a_client_inside_a_trusted_range,
);

async fn the_recipe_serves_gatehouse_over_https_with_the_client_s_address(backend: Backend) {
    if !nginx_available() {
        return;
    }
    // As deploy/gatehouse.service sets it up, on a free port.
    let app = TestApp::builder(backend)
        .env("GATEHOUSE_TRUSTED_PROXIES", "127.0.0.1")
        .env("GATEHOUSE_COOKIE_SECURE", "true")
        .env("GATEHOUSE_ALLOWED_HOSTS", "localhost")
        .spawn()
        .await;
    let nginx = Nginx::start(&app);
    let browser = nginx.browser();

    let health = browser.healthz().await;
    assert_eq!(health.status(), StatusCode::OK);
    assert_hsts(&health, "GET /healthz");
    assert_eq!(health.text().await.unwrap(), "ok");

    // A page registration logs in with Secure cookies, which come back over TLS.
    let user = TestUser::generate();
    let registered = browser.register_via_form(&user).await;
    assert_redirects_to(&registered, "/me");
    assert_hsts(&registered, "POST /register");
    assert_all_cookies_secure(&registered, "POST /register");
    let me = browser.get_me().await;
    assert_eq!(me.status(), StatusCode::OK, "GET /me after registering");
    assert!(me.text().await.unwrap().contains(&user.username));

    // A page login in another browser: the same.
    let other = nginx.browser();
    let logged_in = other.login_via_form(&user.email, &user.password).await;
    assert_redirects_to(&logged_in, "/me");
    assert_all_cookies_secure(&logged_in, "POST /login");
    assert!(
        set_cookie(&logged_in, AUTH_COOKIE).is_some(),
        "no {AUTH_COOKIE} set by POST /login"
    );
    assert_eq!(other.get_me().await.status(), StatusCode::OK);

    // An API login, with an X-Forwarded-For of the client's own making:
    // nginx replaces it, and gatehouse records the address nginx saw.
    let token = api_login_claiming_another_address(&browser, &user).await;
    let sessions = session_addresses(&browser, &token).await;
    assert_eq!(
        sessions,
        vec![CLIENT.to_string(); 3],
        "the registration's, the page login's and the API login's sessions"
    );

    // A body too big to pass on is refused by nginx itself, with HSTS too.
    let too_big = browser
        .client
        .post(browser.url("/api/login"))
        .header("content-type", "application/json")
        .body(vec![b' '; 100 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(too_big.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_hsts(&too_big, "a 100 KiB POST /api/login");
    let refusal = too_big.text().await.unwrap();
    assert!(refusal.contains("<center>nginx</center>"), "{refusal}");

    // Plain HTTP moves to HTTPS, path and query kept.
    let plain = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let moved = plain
        .get(format!("http://localhost:{}/me?tab=1", nginx.http_port))
        .send()
        .await
        .unwrap();
    assert_eq!(moved.status(), StatusCode::MOVED_PERMANENTLY);
    assert_eq!(location(&moved), "https://localhost/me?tab=1");

    // Health probes stay out of nginx's access log; other requests are
    // there, from the client's address.
    let sessions_line = nginx.wait_for_access_line("GET /api/sessions ");
    assert!(
        sessions_line.starts_with(&format!("{CLIENT} ")),
        "{sessions_line}"
    );
    let access = nginx.access_log();
    assert!(!access.contains("/healthz"), "{access}");
}

async fn a_forged_forwarded_address_is_dropped_for_a_client_inside_a_trusted_range(
    backend: Backend,
) {
    if !nginx_available() {
        return;
    }
    // The client's own address is trusted too (a client on the proxy's
    // network): the forged hop would count if nginx passed it on.
    let app = TestApp::builder(backend)
        .env("GATEHOUSE_TRUSTED_PROXIES", "127.0.0.0/8")
        .env("GATEHOUSE_COOKIE_SECURE", "true")
        .spawn()
        .await;
    let nginx = Nginx::start(&app);
    let browser = nginx.browser();
    let user = browser.register_user().await;
    let token = api_login_claiming_another_address(&browser, &user).await;
    assert_eq!(
        session_addresses(&browser, &token).await,
        vec![CLIENT.to_string()]
    );
}

/// Whether nginx is installed: without it the tests skip (one line for the
/// run), except under `CI=true`.
fn nginx_available() -> bool {
    static NOTICE: Once = Once::new();
    needed(
        Path::new(NGINX).is_file(),
        &NOTICE,
        "the nginx tests",
        "apt-get install nginx",
    )
}

/// Logs `user` in through the API with an `X-Forwarded-For` of the
/// client's own making; returns the access token.
async fn api_login_claiming_another_address(browser: &Browser, user: &TestUser) -> String {
    let login = browser
        .client
        .post(browser.url("/api/login"))
        .header("X-Forwarded-For", FORGED)
        .json(&user.api_login())
        .send()
        .await
        .unwrap();
    json_body(login, StatusCode::OK).await["access_token"]
        .as_str()
        .expect("no access_token")
        .to_owned()
}

/// The `ip` of each of the token's user's live sessions.
async fn session_addresses(browser: &Browser, token: &str) -> Vec<String> {
    let response = browser
        .client
        .get(browser.url("/api/sessions"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let sessions = json_body(response, StatusCode::OK).await;
    sessions
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {sessions}"))
        .iter()
        .map(|session| match &session["ip"] {
            Value::String(ip) => ip.clone(),
            other => panic!("no ip in {session}: {other}"),
        })
        .collect()
}

fn assert_hsts(response: &Response, what: &str) {
    let values: Vec<_> = response
        .headers()
        .get_all(STRICT_TRANSPORT_SECURITY)
        .iter()
        .map(|v| v.to_str().unwrap_or_default())
        .collect();
    assert_eq!(values, [HSTS], "Strict-Transport-Security of {what}");
}

fn assert_all_cookies_secure(response: &Response, what: &str) {
    let cookies: Vec<SetCookie> = response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| SetCookie::parse(v.to_str().expect("Set-Cookie is not ASCII")))
        .collect();
    assert!(!cookies.is_empty(), "no cookie set by {what}");
    for cookie in cookies {
        assert!(cookie.secure(), "no Secure in {} ({what})", cookie.raw);
    }
}

/// nginx in a folder of its own, running the recipe's site with the
/// listen addresses, host name (`localhost`), certificate and upstream of
/// this test; stopped when dropped.
struct Nginx {
    child: Child,
    dir: TempDir,
    http_port: u16,
    https_port: u16,
    /// The CA that signed nginx's certificate, in PEM.
    ca: String,
}

impl Nginx {
    /// nginx in front of `app`, accepting connections.
    fn start(app: &TestApp) -> Nginx {
        let upstream = app
            .address
            .strip_prefix("http://")
            .expect("the server's address is an http:// URL");
        let dir = tempfile::Builder::new()
            .prefix("gatehouse-nginx-")
            .tempdir()
            .expect("failed to create nginx's folder");
        // Started as root, nginx runs its workers as `nobody`: they must
        // reach their temporary folders inside.
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let (ca, cert, key) = certificates();
        fs::write(dir.path().join("fullchain.pem"), cert).unwrap();
        let key_path = dir.path().join("privkey.pem");
        fs::write(&key_path, key).unwrap();
        fs::set_permissions(&key_path, fs::Permissions::from_mode(0o600)).unwrap();

        // Another process may take a port between free_port and nginx's
        // bind: then try again with others.
        for _ in 0..3 {
            let (http_port, https_port) = (free_port(), free_port());
            let config = write_config(dir.path(), http_port, https_port, upstream);
            let check = nginx_command(dir.path(), &config)
                .arg("-t")
                .output()
                .expect("failed to run nginx -t");
            assert!(
                check.status.success(),
                "nginx -t refused the configuration:\n{}",
                String::from_utf8_lossy(&check.stderr)
            );
            let _ = fs::remove_file(dir.path().join("error.log"));
            let mut child = nginx_command(dir.path(), &config)
                .args(["-g", "daemon off;"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("failed to start nginx");
            match wait_until_listening(&mut child, &[http_port, https_port]) {
                Ok(()) => {
                    return Nginx {
                        child,
                        dir,
                        http_port,
                        https_port,
                        ca,
                    };
                }
                Err(()) => {
                    let log = fs::read_to_string(dir.path().join("error.log")).unwrap_or_default();
                    assert!(
                        log.contains("Address already in use"),
                        "nginx did not start:\n{log}"
                    );
                }
            }
        }
        panic!("nginx found no free ports in three tries");
    }

    /// A client of this nginx, at `https://localhost:PORT`, trusting its
    /// CA alone and connecting from [`CLIENT`].
    fn browser(&self) -> Browser {
        let ca = Certificate::from_pem(self.ca.as_bytes()).expect("the CA does not parse");
        let builder = Client::builder()
            .tls_certs_only([ca])
            .local_address(IpAddr::V4(CLIENT))
            .resolve("localhost", SocketAddr::from((Ipv4Addr::LOCALHOST, 0)));
        Browser::with_client(&format!("https://localhost:{}", self.https_port), builder)
    }

    fn access_log(&self) -> String {
        fs::read_to_string(self.dir.path().join("access.log")).unwrap_or_default()
    }

    /// Waits for the access log line containing `needle` (nginx writes it
    /// once the answer has gone) and returns it.
    fn wait_for_access_line(&self, needle: &str) -> String {
        let started = Instant::now();
        loop {
            let log = self.access_log();
            if let Some(line) = log.lines().find(|line| line.contains(needle)) {
                return line.to_owned();
            }
            assert!(
                started.elapsed() < START_TIMEOUT,
                "no access log line with {needle:?}:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Nginx {
    // SIGTERM, not SIGKILL: a killed master would leave its worker
    // listening.
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let started = Instant::now();
        while started.elapsed() < STOP_TIMEOUT {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until `child` accepts connections on every port of `ports`;
/// `Err` (the child killed) when it exits first or takes too long.
fn wait_until_listening(child: &mut Child, ports: &[u16]) -> Result<(), ()> {
    let started = Instant::now();
    loop {
        let listening = ports
            .iter()
            .all(|port| TcpStream::connect(SocketAddr::from((Ipv4Addr::LOCALHOST, *port))).is_ok());
        if listening {
            return Ok(());
        }
        let exited = child.try_wait().ok().flatten().is_some();
        if exited || started.elapsed() > START_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            return Err(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `nginx` with `dir` as its prefix and `config` as its configuration,
/// logging its start into `dir` rather than /var/log/nginx.
fn nginx_command(dir: &Path, config: &Path) -> Command {
    let mut command = Command::new(NGINX);
    command
        .arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(config)
        .arg("-e")
        .arg(dir.join("error.log"));
    command
}

/// Writes the site (the recipe's file with this test's addresses, host
/// name, certificate paths and upstream) and a main configuration around it
/// that keeps everything in `dir`; returns the main configuration's path.
fn write_config(dir: &Path, http_port: u16, https_port: u16, upstream: &str) -> PathBuf {
    let mut site = fs::read_to_string(SITE).expect("failed to read the recipe's nginx site");
    let substitutions = [
        ("listen 80;", format!("listen 127.0.0.1:{http_port};")),
        ("listen [::]:80;", String::new()),
        (
            "listen 443 ssl http2;",
            format!("listen 127.0.0.1:{https_port} ssl http2;"),
        ),
        ("listen [::]:443 ssl http2;", String::new()),
        (
            "/etc/letsencrypt/live/auth.example.com/",
            format!("{}/", dir.display()),
        ),
        ("auth.example.com", "localhost".to_owned()),
        ("server 127.0.0.1:8080;", format!("server {upstream};")),
    ];
    for (from, to) in substitutions {
        assert!(
            site.contains(from),
            "{SITE} no longer has {from:?}: update the substitutions of tests/api/nginx.rs"
        );
        site = site.replace(from, &to);
    }
    fs::write(dir.join("gatehouse.conf"), site).unwrap();

    // What Debian's /etc/nginx/nginx.conf gives a site, with every file in `dir`.
    let d = dir.display();
    let main = format!(
        "worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log;
events {{
    worker_connections 64;
}}
http {{
    access_log {d}/access.log;
    client_body_temp_path {d}/client_body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    include {d}/gatehouse.conf;
}}
"
    );
    let path = dir.join("nginx.conf");
    fs::write(&path, main).unwrap();
    path
}
