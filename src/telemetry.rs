//! Logging through `tracing`: one line per request. Never a password, a
//! token, a cookie or the secret: only method, path, status, latency and id.

use std::io::IsTerminal;
use std::time::Instant;

use actix_web::Error;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use tracing_subscriber::EnvFilter;

/// Logs to stdout at `info`, or as `RUST_LOG` says.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stdout().is_terminal())
        .with_target(false)
        .init();
}

pub async fn log_requests(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let request_id = uuid::Uuid::new_v4().simple().to_string();
    let method = req.method().clone();
    // The path only: a query string is the client's to keep.
    let path = req.path().to_owned();
    let mut res = next.call(req).await?;
    tracing::info!(
        request_id = %request_id,
        method = %method,
        path = %path,
        status = res.status().as_u16(),
        latency_ms = format!("{:.3}", started.elapsed().as_secs_f64() * 1000.0),
        "request"
    );
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        res.headers_mut()
            .insert(HeaderName::from_static("x-request-id"), value);
    }
    Ok(res)
}
