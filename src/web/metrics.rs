//! Prometheus metrics (`GATEHOUSE_METRICS_BIND`): the recorder, the count
//! and duration of every request, and the second listener that serves
//! them at `GET /metrics`. The core counts its own events with the
//! `metrics` macros, which do nothing until [`install_recorder`] has run.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::net::TcpListener;
use std::time::Duration;

use actix_web::dev::{Server, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use metrics::{
    Counter, Histogram, Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge,
    histogram,
};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::auth::Accounts;
use crate::web::middleware::RoutePattern;

/// Histogram buckets, in seconds: from a page view to a long wait for a
/// hashing thread.
const BUCKETS: [f64; 15] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// How often samples that no scrape has read are folded into their
/// histograms, so that memory stays bounded between scrapes.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// The `route` of a request no route answered (and of one refused before
/// routing): never its path.
const UNMATCHED: &str = "unmatched";

/// Whether the server records request metrics (app data).
#[derive(Debug, Clone, Copy)]
pub struct RecordRequests(pub bool);

/// Installs the process's recorder; from then on the `metrics` macros
/// record, and the handle renders what they recorded.
pub fn install_recorder() -> anyhow::Result<PrometheusHandle> {
    let handle = PrometheusBuilder::new()
        .set_buckets(&BUCKETS)?
        .install_recorder()?;
    describe();
    Ok(handle)
}

/// The `# HELP` line of every series.
fn describe() {
    describe_counter!(
        "gatehouse_http_requests_total",
        "HTTP requests answered, by method, route template and status"
    );
    describe_histogram!(
        "gatehouse_http_request_duration_seconds",
        Unit::Seconds,
        "Time to answer a request, by route template"
    );
    describe_counter!(
        "gatehouse_logins_total",
        "Login attempts (password or two-factor step), by outcome"
    );
    describe_counter!("gatehouse_registrations_total", "Accounts registered");
    describe_counter!(
        "gatehouse_throttled_total",
        "Attempts refused by a rate limit, by limit"
    );
    describe_gauge!(
        "gatehouse_hash_queue_depth",
        "Password hashes waiting for a hashing thread"
    );
    describe_histogram!(
        "gatehouse_hash_wait_seconds",
        Unit::Seconds,
        "Time a password hash waited for a hashing thread"
    );
    describe_counter!(
        "gatehouse_sessions_renewed_total",
        "Access tokens renewed from a session's refresh credential (silent renewal, POST /api/refresh)"
    );
    describe_counter!(
        "gatehouse_emails_total",
        "Emails handled by the outbox sender, by outcome"
    );
    describe_gauge!(
        "gatehouse_emails_waiting",
        "Emails in the outbox, not yet sent"
    );
    describe_gauge!(
        "gatehouse_db_connections_in_use",
        "Database connections of this process in use"
    );
    describe_gauge!(
        "gatehouse_revocation_channel_up",
        "1 while revocations made by other instances are heard at once (PostgreSQL), else 0"
    );
    describe_counter!(
        "gatehouse_revocations_heard_total",
        "Revocations heard on the channel (sessions ended, tokens denylisted, users changed), this instance's own included"
    );
}

/// Folds unread histogram samples in, every few seconds, until the process
/// ends.
pub async fn keep_up(handle: PrometheusHandle) {
    let mut interval = actix_web::rt::time::interval(UPKEEP_EVERY);
    loop {
        interval.tick().await;
        handle.run_upkeep();
    }
}

/// The metrics listener: `GET /metrics` in Prometheus's text format, 404
/// for anything else. One worker; it ends with the process.
pub fn metrics_server(
    listener: TcpListener,
    handle: PrometheusHandle,
    accounts: web::Data<Accounts>,
) -> std::io::Result<Server> {
    let handle = web::Data::new(handle);
    Ok(HttpServer::new(move || {
        App::new()
            .app_data(handle.clone())
            .app_data(accounts.clone())
            .service(web::resource("/metrics").get(scrape))
            .default_service(web::to(HttpResponse::NotFound))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)?
    .run())
}

/// Reads the gauges, then renders every series.
async fn scrape(
    handle: web::Data<PrometheusHandle>,
    accounts: web::Data<Accounts>,
) -> HttpResponse {
    let load = accounts.workload().await;
    gauge!("gatehouse_hash_queue_depth").set(load.hashes_waiting as f64);
    gauge!("gatehouse_db_connections_in_use").set(f64::from(load.connections_in_use));
    match load.emails_waiting {
        Some(count) => gauge!("gatehouse_emails_waiting").set(count as f64),
        None => tracing::warn!("cannot count the emails waiting; the gauge keeps its last value"),
    }
    if let Some(up) = load.revocation_channel_up {
        gauge!("gatehouse_revocation_channel_up").set(if up { 1.0 } else { 0.0 });
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(handle.render())
}

/// The request series of one route, as this thread holds them.
struct RouteSeries {
    duration: Histogram,
    /// One counter per method and status seen here.
    requests: Vec<(&'static str, StatusCode, Counter)>,
}

thread_local! {
    // Handles by route, looked up in the registry once per thread and route
    // instead of once per request (labels built, hashed and locked).
    static SERIES: RefCell<HashMap<String, RouteSeries>> = RefCell::new(HashMap::new());
}

/// Counts an answered request and its duration.
pub fn record_request<B>(res: &ServiceResponse<B>, elapsed: Duration) {
    let req = res.request();
    let route = route_label(req);
    let method = method_label(req.method().as_str());
    let status = res.status();
    SERIES.with_borrow_mut(|series| {
        if !series.contains_key(route.as_ref()) {
            let duration = histogram!(
                "gatehouse_http_request_duration_seconds",
                "route" => route.clone().into_owned(),
            );
            series.insert(
                route.clone().into_owned(),
                RouteSeries {
                    duration,
                    requests: Vec::new(),
                },
            );
        }
        let Some(route_series) = series.get_mut(route.as_ref()) else {
            return;
        };
        route_series.duration.record(elapsed);
        let known = route_series
            .requests
            .iter()
            .position(|(m, s, _)| *m == method && *s == status);
        let index = known.unwrap_or_else(|| {
            let counter = counter!(
                "gatehouse_http_requests_total",
                "method" => method,
                "route" => route.clone().into_owned(),
                "status" => status.as_str().to_owned(),
            );
            route_series.requests.push((method, status, counter));
            route_series.requests.len() - 1
        });
        route_series.requests[index].2.increment(1);
    });
}

/// The route's template (`/me/sessions/{id}/end`), never the path a client
/// sent; [`UNMATCHED`] for a request no route took.
fn route_label(req: &HttpRequest) -> Cow<'_, str> {
    if let Some(pattern) = req.app_data::<RoutePattern>() {
        return Cow::Borrowed(pattern.0);
    }
    let path = req.match_info();
    if !path.unprocessed().is_empty() {
        return Cow::Borrowed(UNMATCHED);
    }
    if path.segment_count() > 0 {
        // A route with parameters that names no pattern: look it up.
        return req
            .match_pattern()
            .map_or(Cow::Borrowed(UNMATCHED), Cow::Owned);
    }
    // A route without parameters matched the whole (decoded) path, so the
    // path is its template.
    Cow::Borrowed(path.as_str())
}

/// The methods counted by name; any other is `other`.
fn method_label(method: &str) -> &'static str {
    const KNOWN: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];
    KNOWN
        .into_iter()
        .find(|known| *known == method)
        .unwrap_or("other")
}
