//! Middleware of the whole app: the body limit, and error pages that look
//! like the app (HTML) or like the API (JSON).

use actix_web::body::{BoxBody, EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpResponse};
use askama::Template;
use serde_json::json;

use crate::error::AppError;
use crate::routes::page::Layout;

/// The largest request body accepted, for forms and JSON alike.
pub const BODY_LIMIT: usize = 16 * 1024;

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
        return Ok(req
            .error_response(AppError::PayloadTooLarge)
            .map_into_right_body());
    }
    Ok(next.call(req).await?.map_into_left_body())
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    layout: Layout,
    heading: &'static str,
    message: String,
}

/// Gives every error the app's face: an HTML page outside `/api`, JSON
/// `{"detail": …}` inside it. Pages that render their own error (a form
/// shown again with 422) and answers with a body of their own pass as they
/// are.
pub async fn error_pages(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody, BoxBody>>, Error> {
    let api = req.path() == "/api" || req.path().starts_with("/api/");
    let res = next.call(req).await?;
    let status = res.status();
    let error = res
        .response()
        .error()
        .and_then(|e| e.as_error::<AppError>());
    let empty = matches!(
        res.response().body().size(),
        actix_web::body::BodySize::Sized(0) | actix_web::body::BodySize::None
    );
    if !(status.is_client_error() || status.is_server_error()) || (error.is_none() && !empty) {
        return Ok(res.map_into_left_body());
    }
    if api && error.is_some() {
        // AppError already answers in JSON.
        return Ok(res.map_into_left_body());
    }
    // The error's own words, unless they would only repeat the heading.
    let message = error
        .map(ToString::to_string)
        .filter(|message| api || message != heading(status))
        .unwrap_or_else(|| default_message(status).to_owned());
    let (request, old) = res.into_parts();
    let mut fresh = if api {
        HttpResponse::build(status).json(json!({ "detail": message }))
    } else {
        let page = ErrorPage {
            layout: Layout::bare(heading(status)),
            heading: heading(status),
            message,
        };
        HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .body(
                page.render()
                    .unwrap_or_else(|_| "Something went wrong".to_owned()),
            )
    };
    // Keep what the answer said besides its body: Retry-After,
    // WWW-Authenticate, Allow, cookies.
    for (name, value) in old.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            fresh.headers_mut().append(name.clone(), value.clone());
        }
    }
    fresh
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(ServiceResponse::new(request, fresh).map_into_right_body())
}

fn heading(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "Bad request",
        401 => "Not logged in",
        403 => "Forbidden",
        404 => "Page not found",
        405 => "Method not allowed",
        413 => "Request too large",
        415 => "Unsupported content type",
        422 => "Invalid input",
        429 => "Too many requests",
        503 => "Service unavailable",
        _ if status.is_server_error() => "Something went wrong",
        _ => "Request refused",
    }
}

fn default_message(status: StatusCode) -> &'static str {
    match status.as_u16() {
        404 => "There is nothing at this address.",
        405 => "This address does not take that kind of request.",
        _ if status.is_server_error() => "Something went wrong. Please try again.",
        _ => "The request could not be handled.",
    }
}

const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";
const HSTS: &str = "max-age=31536000; includeSubDomains";

/// The browser-side protections, on every answer (error pages included):
/// a strict CSP, no sniffing, no referrer, no framing, no window sharing
/// with other origins, and HSTS when the
/// cookies are `Secure` (the app is then served over HTTPS).
pub async fn security_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let hsts = req
        .app_data::<actix_web::web::Data<crate::state::AppState>>()
        .is_some_and(|state| state.cookie_secure);
    let mut res = next.call(req).await?;
    let headers = res.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    );
    if hsts {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(HSTS),
        );
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use actix_web::middleware::from_fn;
    use actix_web::{App, HttpResponse, test, web};

    use super::*;

    async fn failing() -> Result<HttpResponse, AppError> {
        Err(AppError::internal(anyhow::anyhow!(
            "SELECT secret FROM users: connection reset"
        )))
    }

    #[actix_web::test]
    async fn a_server_error_shows_a_page_that_leaks_nothing() {
        let app = test::init_service(
            App::new()
                .wrap(from_fn(error_pages))
                .wrap(from_fn(security_headers))
                .route("/boom", web::get().to(failing))
                .route("/api/boom", web::get().to(failing)),
        )
        .await;

        let page =
            test::call_service(&app, test::TestRequest::get().uri("/boom").to_request()).await;
        assert_eq!(page.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(page.headers().contains_key(header::CONTENT_SECURITY_POLICY));
        let html = String::from_utf8(test::read_body(page).await.to_vec()).expect("utf-8");
        assert!(html.contains("<h1>Something went wrong</h1>"), "{html}");
        assert!(
            !html.contains("SELECT") && !html.contains("connection reset"),
            "{html}"
        );

        let api =
            test::call_service(&app, test::TestRequest::get().uri("/api/boom").to_request()).await;
        assert_eq!(api.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body: serde_json::Value = test::read_body_json(api).await;
        assert_eq!(body, json!({"detail": "Something went wrong"}));
    }

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
}
