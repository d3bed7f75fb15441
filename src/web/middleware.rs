//! Middleware of the whole app: the request span, the body's limit and
//! deadline, the security headers and a face for the framework's own errors.

use std::borrow::Cow;
use std::cell::Cell;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::{DefaultHeaders, Next};
use actix_web::{Error, HttpMessage, HttpRequest, HttpResponse, ResponseError, web};
use futures_core::Stream;
use tracing::Instrument;

use crate::telemetry::{RequestFields, Route, held_as_values, millis_3, next_request_id};
use crate::web::caller::{RenewedToken, TrustedProxies};
use crate::web::cookies::{AUTH_COOKIE, AuthCookies};
use crate::web::error::{ApiError, AppError, Detail, error_page, heading};
use crate::web::metrics::{RecordRequests, record_request};

/// The largest request body accepted, for forms and JSON alike.
pub const BODY_LIMIT: usize = 16 * 1024;

fn is_api(path: &str) -> bool {
    path == "/api" || path.starts_with("/api/")
}

/// One span per request, carrying its id, method, route, client address
/// and (once authenticated) user id; every line logged while serving it,
/// on any thread, carries them. Ends with one line: status and latency,
/// and, when metrics are on, the request's count and duration.
///
/// For the plain text log the span holds its fields as values
/// ([`RequestFields`], written straight into each line); for JSON and
/// colours they are the span's own fields.
pub async fn request_span(
    proxies: web::Data<TrustedProxies>,
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let request_id = next_request_id();
    let client = proxies.resolve(req.request());
    let (span, fields) = if held_as_values() {
        let span = tracing::info_span!("request");
        let fields =
            RequestFields::new(request_id, req.method(), &loggable_path(req.path()), client);
        fields.attach(&span);
        req.extensions_mut().insert(Arc::clone(&fields));
        (span, Some(fields))
    } else {
        let span = tracing::info_span!(
            "request",
            id = %request_id,
            method = %req.method(),
            path = %loggable_path(req.path()),
            route = tracing::field::Empty,
            client = %client,
            user = tracing::field::Empty,
        );
        (span, None)
    };
    req.extensions_mut().insert(client);
    let mut res = next.call(req).instrument(span.clone()).await?;
    // Known once routed: a route with parameters names its pattern, any
    // other route is its path (the query is never logged: it is the
    // client's). Matching the pattern again here would cost a tenth of a
    // request.
    let routed = res.request();
    let pattern = routed.app_data::<RoutePattern>().map(|pattern| pattern.0);
    match &fields {
        Some(fields) => fields.set_route(pattern.map_or(Route::Path, Route::Pattern)),
        None => {
            let route = pattern.map_or_else(|| loggable_path(routed.path()), Cow::Borrowed);
            span.record("route", tracing::field::display(route));
        }
    }
    let elapsed = started.elapsed();
    span.in_scope(|| {
        tracing::info!(
            status = res.status().as_u16(),
            latency_ms = millis_3(elapsed).as_str(),
            "request"
        );
    });
    if routed
        .app_data::<RecordRequests>()
        .is_some_and(|record| record.0)
    {
        record_request(&res, elapsed);
    }
    if let Ok(value) = HeaderValue::from_bytes(request_id.as_bytes()) {
        res.headers_mut()
            .insert(HeaderName::from_static("x-request-id"), value);
    }
    Ok(res)
}

/// Adds the authenticated user to the request's log lines.
pub fn record_user(req: &HttpRequest, id: i32) {
    match req.extensions().get::<Arc<RequestFields>>() {
        Some(fields) => fields.set_user(id),
        None => {
            tracing::Span::current().record("user", id);
        }
    }
}

/// Paths that carry an email link's token.
const TOKEN_PATHS: [&str; 2] = ["/verify-email/", "/password/reset/"];

/// The path as logged: the token of an email link masked.
pub fn loggable_path(path: &str) -> std::borrow::Cow<'_, str> {
    for prefix in TOKEN_PATHS {
        if path.len() > prefix.len() && path.starts_with(prefix) {
            return format!("{prefix}{{token}}").into();
        }
    }
    path.into()
}

/// The pattern of a route with parameters, for the request span.
#[derive(Debug, Clone, Copy)]
pub struct RoutePattern(pub &'static str);

/// How long a request body may take to arrive, from the end of its headers.
pub const BODY_DEADLINE: Duration = Duration::from_secs(10);

/// Screens every request before a handler sees it: a `Host` not on the
/// allowed list gets 400 (DNS rebinding); a declared body over the limit is
/// refused before anything reads it (bodies without a length are cut by
/// the extractors at the same limit); a body still arriving after
/// [`BODY_DEADLINE`] ends the request with 408 and closes the connection,
/// so a half-sent body cannot hold a connection forever.
pub async fn screen_request(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let headers = req.headers();
    if let Some(allowed) = req.app_data::<AllowedHosts>()
        && !allowed.allows(headers.get(header::HOST).and_then(|v| v.to_str().ok()))
    {
        let response = refusal(req.path(), AppError::BadRequest("Unknown host"));
        return Ok(req.into_response(response).map_into_right_body());
    }
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > BODY_LIMIT as u64) {
        let response = refusal(req.path(), AppError::PayloadTooLarge);
        return Ok(req.into_response(response).map_into_right_body());
    }
    let has_body =
        declared.is_some_and(|len| len > 0) || headers.contains_key(header::TRANSFER_ENCODING);
    if !has_body {
        let res = set_renewed_token(next.call(req).await?);
        return Ok(res.map_into_left_body());
    }
    let expired = Rc::new(Cell::new(false));
    let body = Deadline {
        body: req.take_payload(),
        deadline: Box::pin(actix_web::rt::time::sleep(BODY_DEADLINE)),
        expired: Rc::clone(&expired),
    };
    let body: Pin<Box<dyn Stream<Item = Result<web::Bytes, PayloadError>>>> = Box::pin(body);
    req.set_payload(Payload::from(body));
    let res = set_renewed_token(next.call(req).await?);
    if !expired.get() {
        return Ok(res.map_into_left_body());
    }
    // Whatever the extractor made of the cut body, the answer is 408.
    let (request, _) = res.into_parts();
    let response = refusal(request.path(), AppError::RequestTimeout);
    Ok(ServiceResponse::new(request, response).map_into_right_body())
}

/// Sets the access token a silent renewal made for this request, unless the
/// answer sets (or clears) the auth cookie itself, as logout does.
fn set_renewed_token<B>(mut res: ServiceResponse<B>) -> ServiceResponse<B> {
    let renewed = res.request().extensions_mut().remove::<RenewedToken>();
    let Some(RenewedToken(token)) = renewed else {
        return res;
    };
    let sets_its_own = res.response().cookies().any(|c| c.name() == AUTH_COOKIE);
    let Some(cookies) = res.request().app_data::<web::Data<AuthCookies>>().cloned() else {
        return res;
    };
    if !sets_its_own {
        let cookie = cookies.holding(token);
        if let Ok(value) = HeaderValue::from_str(&cookie.to_string()) {
            res.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    res
}

/// The `Host` names the app answers to; an empty list allows any.
#[derive(Debug, Clone, Default)]
pub struct AllowedHosts(Vec<String>);

impl AllowedHosts {
    /// `names` as configured (lower-case, no port).
    pub fn new(names: &[String]) -> Self {
        Self(
            names
                .iter()
                .map(|n| unbracket(n).to_ascii_lowercase())
                .collect(),
        )
    }

    /// Whether a request with this `Host` header is answered. Without a
    /// list, any; with one, only a listed name, whatever the port.
    pub fn allows(&self, host: Option<&str>) -> bool {
        if self.0.is_empty() {
            return true;
        }
        let Some(host) = host else {
            return false;
        };
        let name = match host.strip_prefix('[') {
            // An IPv6 literal: `[::1]:8080`.
            Some(rest) => rest.split_once(']').map_or(rest, |(name, _)| name),
            None => host.rsplit_once(':').map_or(host, |(name, _)| name),
        };
        self.0
            .iter()
            .any(|allowed| allowed.eq_ignore_ascii_case(name))
    }
}

fn unbracket(name: &str) -> &str {
    name.strip_prefix('[')
        .and_then(|n| n.strip_suffix(']'))
        .unwrap_or(name)
}

fn refusal(path: &str, error: AppError) -> HttpResponse {
    if is_api(path) {
        ApiError(error).error_response()
    } else {
        error.error_response()
    }
}

/// A request body that fails once its deadline has passed.
struct Deadline {
    body: Payload,
    deadline: Pin<Box<actix_web::rt::time::Sleep>>,
    expired: Rc<Cell<bool>>,
}

impl Stream for Deadline {
    type Item = Result<web::Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.expired.get() {
            return Poll::Ready(None);
        }
        if self.deadline.as_mut().poll(cx).is_ready() {
            self.expired.set(true);
            let late = io::Error::new(io::ErrorKind::TimedOut, "the request body came too slowly");
            return Poll::Ready(Some(Err(PayloadError::Io(late))));
        }
        Pin::new(&mut self.body).poll_next(cx)
    }
}

/// Gives the framework's own errors (an empty 405 of a route, a body the
/// framework refused) the app's face: a page, or JSON under `/api`. Our
/// own errors render themselves and pass as they are.
pub async fn framework_errors(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let api = is_api(req.path());
    let res = next.call(req).await?;
    let status = res.status();
    let empty = matches!(
        res.response().body().size(),
        actix_web::body::BodySize::Sized(0) | actix_web::body::BodySize::None
    );
    if !(status.is_client_error() || status.is_server_error()) || !empty {
        return Ok(res.map_into_left_body());
    }
    let (request, old) = res.into_parts();
    let mut builder = HttpResponse::build(status);
    // Keep what the answer said besides its body: Allow, Retry-After.
    for (name, value) in old.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            builder.append_header((name.clone(), value.clone()));
        }
    }
    builder.insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")));
    let fresh = if api {
        builder.json(Detail::new(heading(status)))
    } else {
        error_page(builder, status, None)
    };
    Ok(ServiceResponse::new(request, fresh).map_into_right_body())
}

const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";
const HSTS: &str = "max-age=31536000; includeSubDomains";

/// The browser-side protections, on every answer (error pages included):
/// a strict CSP, no sniffing, no referrer, no framing, no window sharing
/// with other origins, and HSTS when the cookies are `Secure` (the app is
/// then served over HTTPS).
pub fn security_headers(hsts: bool) -> DefaultHeaders {
    let headers = DefaultHeaders::new()
        .add((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
        .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .add((header::REFERRER_POLICY, "no-referrer"))
        .add((header::X_FRAME_OPTIONS, "DENY"))
        .add(("cross-origin-opener-policy", "same-origin"));
    if hsts {
        headers.add((header::STRICT_TRANSPORT_SECURITY, HSTS))
    } else {
        headers
    }
}

#[cfg(test)]
mod path_tests {
    use super::loggable_path;

    #[test]
    fn link_tokens_are_masked_in_logged_paths() {
        assert_eq!(
            loggable_path("/verify-email/abc123"),
            "/verify-email/{token}"
        );
        assert_eq!(
            loggable_path("/password/reset/abc123"),
            "/password/reset/{token}"
        );
        assert_eq!(loggable_path("/password/reset/"), "/password/reset/");
        assert_eq!(loggable_path("/me"), "/me");
    }
}

#[cfg(test)]
mod tests {
    use actix_web::http::StatusCode;
    use actix_web::middleware::from_fn;
    use actix_web::{App, HttpResponse, test, web};

    use super::*;

    #[actix_web::test]
    async fn a_declared_body_over_the_limit_is_refused_before_it_is_read() {
        let app = test::init_service(
            App::new()
                .wrap(from_fn(screen_request))
                .route("/echo", web::post().to(|body: String| async move { body })),
        )
        .await;
        let big = test::TestRequest::post()
            .uri("/echo")
            .insert_header((header::CONTENT_LENGTH, (BODY_LIMIT + 1).to_string()))
            .set_payload(vec![b'x'; BODY_LIMIT + 1])
            .to_request();
        assert_eq!(
            test::call_service(&app, big).await.status(),
            StatusCode::PAYLOAD_TOO_LARGE
        );
        let small = test::TestRequest::post()
            .uri("/echo")
            .set_payload("hi")
            .to_request();
        assert_eq!(
            test::call_service(&app, small).await.status(),
            StatusCode::OK
        );
    }

    #[actix_web::test]
    async fn only_allowed_hosts_pass_whatever_their_port() {
        let any = AllowedHosts::default();
        assert!(any.allows(Some("evil.example")));
        assert!(any.allows(None));
        let list = AllowedHosts::new(&["example.com".into(), "[::1]".into()]);
        for ok in ["example.com", "EXAMPLE.com:8443", "[::1]:8080", "[::1]"] {
            assert!(list.allows(Some(ok)), "{ok}");
        }
        for bad in [
            "evil.example",
            "example.com.evil.example",
            "127.0.0.1:8080",
            "",
        ] {
            assert!(!list.allows(Some(bad)), "{bad}");
        }
        assert!(!list.allows(None));
    }

    #[actix_web::test]
    async fn a_wrong_method_gets_a_page_with_allow() {
        let app = test::init_service(
            App::new()
                .wrap(from_fn(framework_errors))
                .wrap(security_headers(false))
                .service(
                    web::resource("/page")
                        .get(HttpResponse::Ok)
                        .route(web::head().to(HttpResponse::Ok)),
                ),
        )
        .await;
        let res =
            test::call_service(&app, test::TestRequest::delete().uri("/page").to_request()).await;
        assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(
            res.headers()
                .get(header::ALLOW)
                .and_then(|v| v.to_str().ok()),
            Some("GET, HEAD")
        );
        assert!(res.headers().contains_key(header::CONTENT_SECURITY_POLICY));
        let html = String::from_utf8(test::read_body(res).await.to_vec()).expect("utf-8");
        assert!(html.contains("<h1>Method not allowed</h1>"), "{html}");
    }
}
