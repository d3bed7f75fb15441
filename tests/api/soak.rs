//! A bounded soak: 20 seconds of mixed traffic from 8 clients, every answer
//! checked, and the server's memory flat from the end of the warm-up on.
//! Short enough to run in every plain `cargo test`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::header::LOCATION;
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Backend, Browser, LOGIN_FOR_ME, TestApp, TestUser, find_csrf};

backend_tests! {
    multi_thread:
        twenty_seconds_of_mixed_traffic_get_only_the_right_answers_and_memory_stays_flat;
}

const CLIENTS: usize = 8;
const DURATION: Duration = Duration::from_secs(20);
const WARM_UP: Duration = Duration::from_secs(3);
const SLACK_KIB: u64 = 8 * 1024;

/// The server's resident memory in KiB, from `/proc/PID/status`.
fn resident_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("cannot read /proc/{pid}/status: {e}"));
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no VmRSS in:\n{status}"))
}

/// Every answer counted; the wrong ones described.
#[derive(Default)]
struct Tally {
    answers: AtomicUsize,
    server_errors: AtomicUsize,
    unexpected: Mutex<Vec<String>>,
}

impl Tally {
    /// Counts an answer; returns it when its status is the expected one.
    async fn expect(
        &self,
        what: &str,
        response: Response,
        expected: StatusCode,
    ) -> Option<Response> {
        self.answers.fetch_add(1, Ordering::Relaxed);
        let status = response.status();
        if status.is_server_error() {
            self.server_errors.fetch_add(1, Ordering::Relaxed);
        }
        if status == expected {
            return Some(response);
        }
        let body = response.text().await.unwrap_or_default();
        self.wrong(format!(
            "{what}: expected {expected}, got {status}: {body:.300}"
        ));
        None
    }

    /// Counts an answer that must be a 303 to `path`.
    async fn expect_redirect(&self, what: &str, response: Response, path: &str) -> Option<()> {
        let response = self.expect(what, response, StatusCode::SEE_OTHER).await?;
        let location = response
            .headers()
            .get(LOCATION)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default();
        if location == path {
            Some(())
        } else {
            self.wrong(format!("{what}: redirected to {location:?}, not {path:?}"));
            None
        }
    }

    fn wrong(&self, description: String) {
        self.unexpected
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(description);
    }
}

/// One visit: register through the API, log in through the API and the
/// form, use both tokens, log out of both, check health. `None` when an
/// answer was wrong (already counted), ending the visit early.
async fn visit(address: &str, tally: &Tally) -> Option<()> {
    let browser = Browser::new(address);
    let user = TestUser::generate();

    let created = tally
        .expect(
            "POST /api/register",
            browser.api_register(&user.api_registration()).await,
            StatusCode::CREATED,
        )
        .await?;
    let created: Value = created.json().await.ok()?;
    if created["username"] != user.username.as_str() || created["email"] != user.email.as_str() {
        tally.wrong(format!("POST /api/register answered {created}"));
    }

    let credentials = json!({ "email": user.email, "password": user.password });
    let login = tally
        .expect(
            "POST /api/login",
            browser.api_login(&credentials).await,
            StatusCode::OK,
        )
        .await?;
    let login: Value = login.json().await.ok()?;
    let Some(token) = login["access_token"].as_str() else {
        tally.wrong(format!("POST /api/login answered {login}"));
        return None;
    };

    let me = tally
        .expect("GET /api/me", browser.api_me(token).await, StatusCode::OK)
        .await?;
    let me: Value = me.json().await.ok()?;
    if me["email"] != user.email.as_str() {
        tally.wrong(format!("GET /api/me answered {me} for {}", user.email));
    }

    let health = tally
        .expect("GET /healthz", browser.healthz().await, StatusCode::OK)
        .await?;
    let health = health.text().await.ok()?;
    if health.trim() != "ok" {
        tally.wrong(format!("GET /healthz answered {health:?}"));
    }

    let form = tally
        .expect("GET /login", browser.get_login(None).await, StatusCode::OK)
        .await?;
    let Some(csrf) = find_csrf(&form.text().await.ok()?) else {
        tally.wrong("GET /login has no csrf_token".to_owned());
        return None;
    };
    tally
        .expect_redirect(
            "POST /login",
            browser
                .post_login(&[
                    ("email", user.email.as_str()),
                    ("password", user.password.as_str()),
                    ("csrf_token", csrf.as_str()),
                ])
                .await,
            "/me",
        )
        .await?;

    let page = tally
        .expect("GET /me", browser.get_me().await, StatusCode::OK)
        .await?;
    let page = page.text().await.ok()?;
    if !page.contains(&user.username) {
        tally.wrong(format!("GET /me does not show {}", user.username));
    }
    let Some(csrf) = find_csrf(&page) else {
        tally.wrong("GET /me has no csrf_token".to_owned());
        return None;
    };

    tally
        .expect(
            "POST /api/logout",
            browser.api_logout(token).await,
            StatusCode::NO_CONTENT,
        )
        .await?;
    tally
        .expect(
            "GET /api/me after logout",
            browser.api_me(token).await,
            StatusCode::UNAUTHORIZED,
        )
        .await?;
    // The page login is a token of its own: still logged in.
    tally
        .expect(
            "GET /me after the API logout",
            browser.get_me().await,
            StatusCode::OK,
        )
        .await?;

    tally
        .expect_redirect(
            "POST /logout",
            browser.post_logout(&[("csrf_token", csrf.as_str())]).await,
            "/login",
        )
        .await?;
    tally
        .expect_redirect("GET /me after logout", browser.get_me().await, LOGIN_FOR_ME)
        .await?;
    Some(())
}

async fn twenty_seconds_of_mixed_traffic_get_only_the_right_answers_and_memory_stays_flat(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let tally = Arc::new(Tally::default());
    let started = Instant::now();
    let deadline = started + DURATION;
    let visits = Arc::new(AtomicUsize::new(0));
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        let address = app.address.clone();
        let tally = Arc::clone(&tally);
        let visits = Arc::clone(&visits);
        clients.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                if visit(&address, &tally).await.is_some() {
                    visits.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }

    tokio::time::sleep_until((started + WARM_UP).into()).await;
    let warm = resident_kib(app.pid());
    for client in clients {
        client.await.unwrap();
    }
    let end = resident_kib(app.pid());

    let unexpected = tally
        .unexpected
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    let answers = tally.answers.load(Ordering::Relaxed);
    let visits = visits.load(Ordering::Relaxed);
    eprintln!(
        "{visits} visits, {answers} answers; VmRSS {warm} KiB after the warm-up, {end} KiB at the end"
    );
    assert!(
        unexpected.is_empty(),
        "{} unexpected answers of {answers}: {:#?}",
        unexpected.len(),
        &unexpected[..unexpected.len().min(20)]
    );
    assert_eq!(tally.server_errors.load(Ordering::Relaxed), 0);
    assert!(visits >= CLIENTS, "only {visits} visits in {DURATION:?}");
    assert!(
        end * 2 <= warm * 3 + 2 * SLACK_KIB,
        "resident memory grew from {warm} KiB after the warm-up to {end} KiB after \
         {visits} visits ({answers} answers); allowed: 1.5 × {warm} KiB + {SLACK_KIB} KiB"
    );
    let logs = app.logs();
    let panics: Vec<&str> = logs.lines().filter(|l| l.contains("panicked")).collect();
    assert!(panics.is_empty(), "{panics:#?}");
}
