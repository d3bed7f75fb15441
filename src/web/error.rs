//! The one error of the request path, with two faces: an HTML page (the
//! default) and, wrapped in [`ApiError`], JSON `{"detail": …}` for `/api`.
//! A handler's return type picks; status and headers are decided once, in
//! [`AppError::head`].

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, HttpResponseBuilder, ResponseError};
use askama::Template;
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth;
use crate::web::page::{Layout, no_store};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    BadRequest(&'static str),
    #[error("Invalid or expired form. Reload the page and try again.")]
    Csrf,
    #[error("Not authenticated")]
    Unauthorized,
    /// A page that needs a login: 303 to the login form, coming back to `next`.
    #[error("Please log in")]
    LoginRequired { next: String },
    #[error("Page not found")]
    NotFound,
    #[error("Request body too large: 16 KiB at most")]
    PayloadTooLarge,
    /// The body did not arrive within the deadline; the connection closes.
    #[error("The request body did not arrive in time")]
    RequestTimeout,
    #[error("{0}")]
    UnsupportedMediaType(&'static str),
    #[error(transparent)]
    Auth(#[from] auth::Error),
}

/// What an error answers besides its body.
struct Head<'a> {
    status: StatusCode,
    retry_after: Option<u64>,
    bearer_challenge: bool,
    /// Where the login form should send the visitor back to.
    login_next: Option<&'a str>,
}

impl AppError {
    pub fn internal(error: impl Into<anyhow::Error>) -> Self {
        Self::Auth(auth::Error::internal(error))
    }

    fn head(&self) -> Head<'_> {
        use auth::Error as Core;
        let (status, retry_after) = match self {
            Self::BadRequest(_) | Self::Auth(Core::InvalidLink) => (StatusCode::BAD_REQUEST, None),
            Self::Auth(Core::EmailNotConfirmed | Core::AccountDisabled) => {
                (StatusCode::FORBIDDEN, None)
            }
            Self::Csrf => (StatusCode::FORBIDDEN, None),
            Self::Unauthorized
            | Self::Auth(
                Core::InvalidCredentials
                | Core::InvalidRefreshToken
                | Core::InvalidCode
                | Core::TwoFactorRequired { .. }
                | Core::PendingLoginExpired,
            ) => (StatusCode::UNAUTHORIZED, None),
            Self::LoginRequired { .. } => (StatusCode::SEE_OTHER, None),
            Self::NotFound => (StatusCode::NOT_FOUND, None),
            Self::PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, None),
            Self::RequestTimeout => (StatusCode::REQUEST_TIMEOUT, None),
            Self::UnsupportedMediaType(_) => (StatusCode::UNSUPPORTED_MEDIA_TYPE, None),
            Self::Auth(Core::Invalid(_)) => (StatusCode::UNPROCESSABLE_ENTITY, None),
            Self::Auth(Core::TooManyRequests { retry_after }) => {
                (StatusCode::TOO_MANY_REQUESTS, Some(*retry_after))
            }
            Self::Auth(Core::Conflict(_)) => (StatusCode::CONFLICT, None),
            Self::Auth(Core::Unavailable(_)) => (StatusCode::SERVICE_UNAVAILABLE, Some(5)),
            Self::Auth(Core::Overloaded) => (StatusCode::SERVICE_UNAVAILABLE, Some(1)),
            Self::Auth(Core::Internal(_)) => (StatusCode::INTERNAL_SERVER_ERROR, None),
        };
        Head {
            status,
            retry_after,
            bearer_challenge: matches!(self, Self::Unauthorized),
            login_next: match self {
                Self::LoginRequired { next } => Some(next),
                _ => None,
            },
        }
    }

    /// The status line and headers of the answer, with the cause of a 5xx
    /// logged (never shown).
    pub fn response(&self) -> HttpResponseBuilder {
        match self {
            Self::Auth(auth::Error::Unavailable(cause)) => {
                tracing::warn!(error = format!("{cause:#}"), "database unavailable");
            }
            Self::Auth(auth::Error::Internal(cause)) => {
                tracing::error!(error = format!("{cause:#}"), "request failed");
            }
            _ => {}
        }
        let head = self.head();
        let mut response = HttpResponse::build(head.status);
        response.insert_header(no_store());
        if let Some(seconds) = head.retry_after {
            response.insert_header((header::RETRY_AFTER, seconds));
        }
        if head.bearer_challenge {
            response.insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")));
        }
        if head.status == StatusCode::REQUEST_TIMEOUT {
            // What is left of the body may never come: drop the connection.
            response.force_close();
        }
        if let Some(next) = head.login_next {
            let query = serde_urlencoded::to_string([("next", next)]).unwrap_or_default();
            response.insert_header((header::LOCATION, format!("/login?{query}")));
        }
        response
    }

    pub fn status(&self) -> StatusCode {
        self.head().status
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    layout: Layout,
    heading: &'static str,
    message: String,
}

/// The error page for `status`, saying `message` unless it would only
/// repeat the heading.
pub fn error_page(
    mut response: HttpResponseBuilder,
    status: StatusCode,
    message: Option<String>,
) -> HttpResponse {
    let heading = heading(status);
    let message = message
        .filter(|message| message != heading)
        .unwrap_or_else(|| default_message(status).to_owned());
    let page = ErrorPage {
        layout: Layout::bare(heading),
        heading,
        message,
    };
    response.content_type("text/html; charset=utf-8").body(
        page.render()
            .unwrap_or_else(|_| "Something went wrong".to_owned()),
    )
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        self.status()
    }

    fn error_response(&self) -> HttpResponse {
        let head = self.head();
        if head.login_next.is_some() {
            return self.response().finish();
        }
        error_page(self.response(), head.status, Some(self.to_string()))
    }
}

/// The same error as JSON, for the API.
#[derive(Debug)]
pub struct ApiError(pub AppError);

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl From<AppError> for ApiError {
    fn from(error: AppError) -> Self {
        Self(error)
    }
}

impl From<auth::Error> for ApiError {
    fn from(error: auth::Error) -> Self {
        Self(error.into())
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.0.status()
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = self.0.response();
        match &self.0 {
            AppError::Auth(auth::Error::Invalid(errors)) => response.json(FieldErrors {
                detail: errors
                    .iter()
                    .map(|e| FieldMessage {
                        field: e.field,
                        message: e.message,
                    })
                    .collect(),
            }),
            AppError::Auth(auth::Error::TwoFactorRequired { .. }) => response.json(LoginRefusal {
                detail: self.0.to_string(),
                two_factor_required: Some(true),
            }),
            // A link's token, as the API takes it in a body.
            AppError::Auth(auth::Error::InvalidLink) => {
                response.json(Detail::new("Invalid or expired token"))
            }
            other => response.json(Detail::new(other.to_string())),
        }
    }
}

/// `{"detail": "…"}`: what happened, in words a user may read.
#[derive(Debug, Serialize, ToSchema)]
pub struct Detail {
    pub detail: String,
}

impl Detail {
    pub fn new(detail: impl Into<String>) -> Self {
        Self {
            detail: detail.into(),
        }
    }
}

/// `{"detail": [{"field", "message"}]}`: each field that breaks its
/// rules, with why.
#[derive(Debug, Serialize, ToSchema)]
pub struct FieldErrors {
    pub detail: Vec<FieldMessage>,
}

/// One field that breaks its rules.
#[derive(Debug, Serialize, ToSchema)]
pub struct FieldMessage {
    /// The name of the field in the request body (`body` for the body as a whole).
    pub field: &'static str,
    pub message: &'static str,
}

/// A refused login: `{"detail"}`, with `"two_factor_required": true` when
/// the password was right and the two-factor code is what is missing.
#[derive(Debug, Serialize, ToSchema)]
pub struct LoginRefusal {
    pub detail: String,
    /// Present, and `true`, only when the code is what is missing.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = bool, required = false)]
    pub two_factor_required: Option<bool>,
}

/// The heading of an error page.
pub fn heading(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "Bad request",
        401 => "Not logged in",
        403 => "Forbidden",
        404 => "Page not found",
        405 => "Method not allowed",
        408 => "Request timeout",
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

#[cfg(test)]
mod tests {
    use actix_web::body::to_bytes;
    use serde_json::json;

    use super::*;

    fn internal() -> AppError {
        AppError::internal(anyhow::anyhow!(
            "SELECT secret FROM users: connection reset"
        ))
    }

    #[actix_web::test]
    async fn a_server_error_shows_a_page_that_leaks_nothing() {
        let page = internal().error_response();
        assert_eq!(page.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let html = String::from_utf8(to_bytes(page.into_body()).await.expect("body").to_vec())
            .expect("utf-8");
        assert!(html.contains("<h1>Something went wrong</h1>"), "{html}");
        assert!(
            !html.contains("SELECT") && !html.contains("connection reset"),
            "{html}"
        );

        let api = ApiError(internal()).error_response();
        assert_eq!(api.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body: serde_json::Value =
            serde_json::from_slice(&to_bytes(api.into_body()).await.expect("body")).expect("json");
        assert_eq!(body, json!({"detail": "Something went wrong"}));
    }

    #[test]
    fn headers_follow_the_error() {
        let throttled = AppError::from(auth::Error::TooManyRequests { retry_after: 42 });
        let response = ApiError(throttled).error_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(
            response
                .headers()
                .get(header::RETRY_AFTER)
                .map(|v| v.as_bytes()),
            Some(&b"42"[..])
        );

        let response = ApiError(AppError::Unauthorized).error_response();
        assert_eq!(
            response
                .headers()
                .get(header::WWW_AUTHENTICATE)
                .map(|v| v.as_bytes()),
            Some(&b"Bearer"[..])
        );

        let response = AppError::LoginRequired { next: "/me".into() }.error_response();
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert_eq!(
            response
                .headers()
                .get(header::LOCATION)
                .map(|v| v.as_bytes()),
            Some(&b"/login?next=%2Fme"[..])
        );
    }
}
