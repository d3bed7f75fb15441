//! Prometheus metrics on `GATEHOUSE_METRICS_BIND`: every series of the
//! contract after some traffic, counts that move with what happened, route
//! templates (never paths, ids or emails) as labels, and a listener of
//! their own that exists only when asked for.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use reqwest::header::CONTENT_TYPE;
use serde_json::json;

use crate::helpers::{Backend, TestApp, TestDatabase, TestUser, json_body, run_gatehouse};

backend_tests!(
    every_series_appears_after_some_traffic,
    a_login_moves_its_outcome_by_exactly_one,
    requests_are_labelled_with_their_route_template_never_their_path,
    metrics_are_served_on_their_own_listener_only,
    without_the_variable_no_metrics_listener_is_opened,
);

/// Every series the contract names.
const SERIES: [&str; 11] = [
    "gatehouse_http_requests_total",
    "gatehouse_http_request_duration_seconds",
    "gatehouse_logins_total",
    "gatehouse_registrations_total",
    "gatehouse_throttled_total",
    "gatehouse_hash_queue_depth",
    "gatehouse_hash_wait_seconds",
    "gatehouse_sessions_renewed_total",
    "gatehouse_emails_total",
    "gatehouse_emails_waiting",
    "gatehouse_db_connections_in_use",
];

const WRONG_PASSWORD: &str = "not-the-password";

async fn app_with_metrics(backend: Backend) -> TestApp {
    TestApp::builder(backend)
        .env("GATEHOUSE_METRICS_BIND", "127.0.0.1:0")
        .spawn()
        .await
}

/// One sample of a scrape: `name{labels} value`.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// A scrape: its text and its samples.
pub struct Scrape {
    text: String,
    samples: Vec<Sample>,
}

impl Scrape {
    /// The sum of the samples of `name` that carry every label of `labels`
    /// (0 when there is none).
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.samples
            .iter()
            .filter(|s| s.name == name)
            .filter(|s| {
                labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|s| s.value)
            .sum()
    }

    /// Whether the series has a sample (a histogram: its `_count`).
    fn has(&self, series: &str) -> bool {
        let count = format!("{series}_count");
        self.samples
            .iter()
            .any(|s| s.name == series || s.name == count)
    }

    /// The values one label takes in the samples of `name`.
    fn label_values(&self, name: &str, label: &str) -> HashSet<String> {
        self.samples
            .iter()
            .filter(|s| s.name == name)
            .filter_map(|s| s.labels.get(label).cloned())
            .collect()
    }
}

/// GET the metrics page, expecting 200 in Prometheus's text format.
pub async fn scrape(app: &TestApp) -> Scrape {
    let url = app
        .metrics_url()
        .expect("the server logged no metrics address");
    let response = reqwest::get(&url).await.expect("GET /metrics");
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response.headers()[CONTENT_TYPE]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    let text = response.text().await.expect("a body");
    let samples = text
        .lines()
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| parse_sample(line).unwrap_or_else(|| panic!("not a sample: {line:?}")))
        .collect();
    Scrape { text, samples }
}

/// `name{key="value",…} value`, or `name value`.
fn parse_sample(line: &str) -> Option<Sample> {
    let (series, value) = line.rsplit_once(' ')?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        number => number.parse().ok()?,
    };
    let Some((name, rest)) = series.split_once('{') else {
        return Some(Sample {
            name: series.to_owned(),
            labels: BTreeMap::new(),
            value,
        });
    };
    let mut labels = BTreeMap::new();
    let mut rest = rest.strip_suffix('}')?;
    while !rest.is_empty() {
        let (key, after) = rest.split_once("=\"")?;
        let mut label = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next()? {
                (_, '\\') => match chars.next()?.1 {
                    'n' => label.push('\n'),
                    other => label.push(other),
                },
                (i, '"') => break i,
                (_, c) => label.push(c),
            }
        };
        labels.insert(key.to_owned(), label);
        rest = after[end + 1..].trim_start_matches(',');
    }
    Some(Sample {
        name: name.to_owned(),
        labels,
        value,
    })
}

/// Scrapes until `done` holds (mail is sent in the background), at most
/// ten seconds.
async fn scrape_until(app: &TestApp, what: &str, done: impl Fn(&Scrape) -> bool) -> Scrape {
    let started = Instant::now();
    loop {
        let scrape = scrape(app).await;
        if done(&scrape) {
            return scrape;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no {what} within 10 s:\n{}",
            scrape.text
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn every_series_appears_after_some_traffic(backend: Backend) {
    let app = TestApp::builder(backend)
        .env("GATEHOUSE_METRICS_BIND", "127.0.0.1:0")
        .env("GATEHOUSE_RATE_LIMITS", "on")
        .env("GATEHOUSE_LOGIN_LIMIT", "1/15m")
        .spawn()
        .await;
    // A registration (a hash, a confirmation email), a login with a
    // refresh token, a renewal, a page view, and a throttled login.
    let user = app.register_user().await;
    let (access, refresh) = app.api_session(&user.email, &user.password).await;
    json_body(app.api_refresh(&refresh).await, StatusCode::OK).await;
    app.api_me_json(&access).await;
    for expected in [StatusCode::UNAUTHORIZED, StatusCode::TOO_MANY_REQUESTS] {
        let wrong = app
            .api_login(&json!({ "email": user.email, "password": WRONG_PASSWORD }))
            .await;
        assert_eq!(wrong.status(), expected);
    }

    let scrape = scrape_until(&app, "email sent", |s| {
        s.value("gatehouse_emails_total", &[("outcome", "sent")]) >= 1.0
    })
    .await;
    for series in SERIES {
        assert!(scrape.has(series), "no {series} in:\n{}", scrape.text);
    }
    for histogram in [
        "gatehouse_http_request_duration_seconds",
        "gatehouse_hash_wait_seconds",
    ] {
        assert!(
            scrape
                .text
                .contains(&format!("# TYPE {histogram} histogram")),
            "{histogram} is no histogram:\n{}",
            scrape.text
        );
    }
    assert_eq!(scrape.value("gatehouse_registrations_total", &[]), 1.0);
    assert_eq!(scrape.value("gatehouse_sessions_renewed_total", &[]), 1.0);
    assert_eq!(
        scrape.value("gatehouse_throttled_total", &[("limit", "login_pair")]),
        1.0
    );
    assert_eq!(
        scrape.value("gatehouse_logins_total", &[("outcome", "throttled")]),
        1.0
    );
    // The registration's hash, the login's check and the wrong password's:
    // the throttled attempt is refused before any.
    assert_eq!(scrape.value("gatehouse_hash_wait_seconds_count", &[]), 3.0);
    assert_eq!(
        scrape.value(
            "gatehouse_http_requests_total",
            &[("method", "GET"), ("route", "/api/me"), ("status", "200")]
        ),
        1.0
    );
    assert!(
        !scrape.text.contains('@'),
        "an email address in the metrics:\n{}",
        scrape.text
    );
}

async fn a_login_moves_its_outcome_by_exactly_one(backend: Backend) {
    let app = app_with_metrics(backend).await;
    let user = app.register_user().await;
    let logins =
        |s: &Scrape, outcome: &str| s.value("gatehouse_logins_total", &[("outcome", outcome)]);

    let before = scrape(&app).await;
    app.login_via_api(&user.email, &user.password).await;
    let after = scrape(&app).await;
    assert_eq!(
        logins(&after, "succeeded") - logins(&before, "succeeded"),
        1.0
    );
    assert_eq!(logins(&after, "failed"), logins(&before, "failed"));

    let response = app
        .api_login(&json!({ "email": user.email, "password": WRONG_PASSWORD }))
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let later = scrape(&app).await;
    assert_eq!(logins(&later, "failed") - logins(&after, "failed"), 1.0);
    assert_eq!(logins(&later, "succeeded"), logins(&after, "succeeded"));

    // The form counts the same way.
    let browser = app.new_browser();
    browser.log_in_as(&user).await;
    let last = scrape(&app).await;
    assert_eq!(
        logins(&last, "succeeded") - logins(&later, "succeeded"),
        1.0
    );
}

async fn requests_are_labelled_with_their_route_template_never_their_path(backend: Backend) {
    let app = app_with_metrics(backend).await;
    let user = TestUser::generate();
    app.register_via_api(&user).await;
    let browser = app.new_browser();
    browser.log_in_as(&user).await;
    let csrf = browser.csrf_token_from("/me/sessions").await;
    let id = uuid::Uuid::new_v4().simple().to_string();
    let ended = browser
        .post_form(
            &format!("/me/sessions/{id}/end"),
            &[("csrf_token", csrf.as_str())],
        )
        .await;
    assert_eq!(ended.status(), StatusCode::NOT_FOUND);
    let nowhere = format!("/no-such-page-{id}x");
    assert_eq!(app.get(&nowhere).await.status(), StatusCode::NOT_FOUND);
    // `%65` is `e`: the route of `/me`, under another spelling.
    assert_eq!(browser.get("/m%65").await.status(), StatusCode::OK);

    let scrape = scrape(&app).await;
    let requests = |route: &str, status: &str| {
        scrape.value(
            "gatehouse_http_requests_total",
            &[("method", "POST"), ("route", route), ("status", status)],
        )
    };
    assert_eq!(
        requests("/me/sessions/{id}/end", "404"),
        1.0,
        "{}",
        scrape.text
    );
    assert_eq!(
        scrape.value(
            "gatehouse_http_requests_total",
            &[("route", "unmatched"), ("status", "404")]
        ),
        1.0,
        "{}",
        scrape.text
    );
    assert_eq!(
        scrape.value(
            "gatehouse_http_requests_total",
            &[("method", "GET"), ("route", "/me"), ("status", "200")]
        ),
        1.0,
        "{}",
        scrape.text
    );
    for raw in [id.as_str(), "no-such-page", "%65", user.username.as_str()] {
        assert!(
            !scrape.text.contains(raw),
            "{raw:?} in the metrics:\n{}",
            scrape.text
        );
    }
    let routes = scrape.label_values("gatehouse_http_request_duration_seconds_count", "route");
    assert!(routes.contains("/me/sessions/{id}/end"), "{routes:?}");
    assert!(
        routes
            .iter()
            .all(|r| r == "unmatched" || r.starts_with('/')),
        "{routes:?}"
    );
}

async fn metrics_are_served_on_their_own_listener_only(backend: Backend) {
    let app = app_with_metrics(backend).await;
    let metrics = app
        .metrics_url()
        .expect("the server logged no metrics address");
    assert!(metrics.ends_with("/metrics"), "{metrics}");
    assert!(
        !metrics.starts_with(&format!("{}/", app.address)),
        "{metrics}"
    );
    assert_eq!(app.get("/metrics").await.status(), StatusCode::NOT_FOUND);
    for elsewhere in ["/", "/me", "/metrics/x"] {
        let url = metrics.replace("/metrics", elsewhere);
        let response = reqwest::get(&url)
            .await
            .expect("GET on the metrics listener");
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{url}");
    }
    scrape(&app).await;
    assert_eq!(listening_sockets(app.pid()), 2);
}

async fn without_the_variable_no_metrics_listener_is_opened(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.register_user().await;
    assert_eq!(app.metrics_url(), None);
    let logs = app.logs();
    assert!(!logs.contains("metrics"), "{logs}");
    assert_eq!(app.get("/metrics").await.status(), StatusCode::NOT_FOUND);
    assert_eq!(listening_sockets(app.pid()), 1);
}

#[test]
fn a_metrics_address_without_a_port_stops_the_server_at_start() {
    let database = TestDatabase::create(&Backend::Sqlite);
    let run = run_gatehouse(
        &database,
        &["serve"],
        &[("GATEHOUSE_METRICS_BIND", "127.0.0.1")],
    );
    assert_eq!(run.status.code(), Some(2), "{run:#?}");
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{run:#?}");
    assert!(lines[0].contains("GATEHOUSE_METRICS_BIND"), "{run:#?}");
}

/// The TCP sockets the process listens on.
fn listening_sockets(pid: u32) -> usize {
    let sockets: HashSet<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("the server's open files")
        .filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
        .filter_map(|target| {
            let target = target.to_str()?;
            let inode = target.strip_prefix("socket:[")?.strip_suffix(']')?;
            Some(inode.to_owned())
        })
        .collect();
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|table| std::fs::read_to_string(table).ok())
        .flat_map(|table| {
            table
                .lines()
                .skip(1)
                .filter_map(|line| {
                    let fields: Vec<&str> = line.split_whitespace().collect();
                    // State 0A is LISTEN; field 9 is the socket's inode.
                    (fields.get(3) == Some(&"0A"))
                        .then(|| fields.get(9).map(|i| (*i).to_owned()))?
                })
                .collect::<Vec<_>>()
        })
        .filter(|inode| sockets.contains(inode))
        .count()
}
