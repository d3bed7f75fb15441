//! Middleware of the whole app: the request span, the body limit,
//! the security headers and a face for the framework's own errors.

use std::time::Instant;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::{DefaultHeaders, Next};
use actix_web::{Error, HttpMessage, HttpResponse, ResponseError, web};
use serde_json::json;
use tracing::Instrument;

use crate::telemetry::next_request_id;
use crate::web::caller::TrustedProxies;
use crate::web::error::{ApiError, AppError, error_page, heading};

/// The largest request body accepted, for forms and JSON alike.
pub const BODY_LIMIT: usize = 16 * 1024;

fn is_api(path: &str) -> bool {
    path == "/api" || path.starts_with("/api/")
}

/// One span per request, carrying its id, method, route, client address
/// and (once authenticated) user id; every line logged while serving it,
/// on any thread, carries them. Ends with one line: status and latency.
pub async fn request_span(
    proxies: web::Data<TrustedProxies>,
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let request_id = next_request_id();
    let client = proxies.resolve(req.request());
    let span = tracing::info_span!(
        "request",
        id = %request_id,
        method = %req.method(),
        path = %req.path(),
        route = tracing::field::Empty,
        client = %client,
        user = tracing::field::Empty,
    );
    req.extensions_mut().insert(client);
    let mut res = next.call(req).instrument(span.clone()).await?;
    // Known once routed: a route with parameters names its pattern, any
    // other route is its path (the query is never logged: it is the
    // client's). Matching the pattern again here would cost a tenth of a
    // request.
    let routed = res.request();
    let route = routed
        .app_data::<RoutePattern>()
        .map_or_else(|| routed.path(), |pattern| pattern.0);
    span.record("route", tracing::field::display(route));
    span.in_scope(|| {
        tracing::info!(
            status = res.status().as_u16(),
            latency_ms = format!("{:.3}", started.elapsed().as_secs_f64() * 1000.0),
            "request"
        );
    });
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        res.headers_mut()
            .insert(HeaderName::from_static("x-request-id"), value);
    }
    Ok(res)
}

/// The pattern of a route with parameters, for the request span.
#[derive(Debug, Clone, Copy)]
pub struct RoutePattern(pub &'static str);

/// Refuses a declared body over the limit before anything reads it; bodies
/// without a length are cut by the extractors at the same limit.
pub async fn limit_body_size(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > BODY_LIMIT as u64) {
        let response = if is_api(req.path()) {
            ApiError(AppError::PayloadTooLarge).error_response()
        } else {
            AppError::PayloadTooLarge.error_response()
        };
        return Ok(req.into_response(response).map_into_right_body());
    }
    Ok(next.call(req).await?.map_into_left_body())
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
        builder.json(json!({ "detail": heading(status) }))
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
mod tests {
    use actix_web::http::StatusCode;
    use actix_web::middleware::from_fn;
    use actix_web::{App, HttpResponse, test, web};

    use super::*;

    #[actix_web::test]
    async fn a_declared_body_over_the_limit_is_refused_before_it_is_read() {
        let app = test::init_service(
            App::new()
                .wrap(from_fn(limit_body_size))
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
